// Guided tour: a few short steps, each driving the live model and pointing at the diagram. Steps
// that animate can be replayed; the long comparison run asks first and says how long it takes;
// the last step restates the answer with this session's own numbers.
import { h } from "../util/dom.js";

const ALL_STEPS = [
  {
    title: "Attention hands the FFN an output",
    text: "Follow the arrow between the two blocks. Attention passes the FFN a tensor of shape (B, T, d): " +
      "one updated vector per token, recomputed for every input. No weights cross that arrow.",
    highlight: ["e-handoff", "handoff-label", "g-attn"],
    run: (ctx) => ctx.openTab("attention"),
  },
  {
    title: "Each part has its own random start",
    text: "Attention owns W_q, W_k, W_v and W_o; the FFN owns W_1 and W_2. Each was filled with small random " +
      "numbers when the model was made. The heatmap shows how far W_1 has moved since step 0.",
    highlight: ["g-attn", "g-ffn"],
    run: (ctx) => ctx.showWeight("W_1", "change"),
  },
  {
    title: "Both learn together",
    text: "One real training step: forward, loss, then the gradient flows back through W_2 and W_1 first and on " +
      "into attention's weights. Thicker orange means a larger gradient. Every block then moves a little. " +
      "Replay it, slower if you like (the speed menu), or tick \"step through\".",
    highlight: ["g-attn", "g-ffn", "output"],
    run: (ctx) => ctx.stepOnce(),
    replay: true,
  },
  {
    title: "What attention adds",
    text: "The same word in two sentences. With attention, its vector depends on the words before it; " +
      "with the FFN alone it cannot, so both sentences give the same vector.",
    highlight: ["e-handoff", "g-ffn"],
    run: (ctx) => ctx.compareContexts(),
  },
  {
    title: "Measured, not claimed",
    text: "Three models trained on the same data and seed: attention + FFN, attention only, FFN only. " +
      "The figure shows their held-out loss and the bigram bound, the best you can do seeing one word back.",
    highlight: ["output"],
    spotlight: "context-ablation",
    ask: (ctx) => ctx.compareCost(),
    run: (ctx) => ctx.compareRuns(),
  },
  {
    title: "Predict, then reveal",
    text: "Which earlier word will \"sat\" attend to most once the model has trained 200 more steps? Pick one " +
      "below the diagram. The page then says how long those steps take, trains them if you agree, and shows the " +
      "answer from the model's own attention. Your score is kept.",
    highlight: ["g-attn"],
    spotlight: "predict",
    ownerOnly: true, // it trains 200 steps: not on a read-only watch page
    run: (ctx) => ctx.predictAttention(),
  },
  {
    title: "The answer",
    text: "",
    highlight: ["e-handoff", "handoff-label", "g-attn", "g-ffn"],
    run: (ctx) => ctx.openTab("context"),
    summary: true,
  },
];

export function createTour(root, caption, ctx) {
  const STEPS = ctx.readOnly ? ALL_STEPS.filter((step) => !step.ownerOnly) : ALL_STEPS;
  let index = -1;
  const title = h("strong", { id: "tour-title" });
  const text = h("span", { id: "tour-text" });
  const back = h("button", { type: "button", class: "small", text: "Back" });
  const next = h("button", { type: "button", class: "small primary", id: "tour-next", text: "Next" });
  const end = h("button", { type: "button", class: "small", text: "End tour" });
  const replay = h("button", { type: "button", class: "small", id: "tour-replay", text: "↻ Replay the step", hidden: true,
    onclick: () => ctx.replay() });
  const ask = h("div", { class: "confirm", id: "tour-ask", hidden: true });
  const count = h("span", { class: "muted small" });
  root.append(h("div", { class: "tour-body" }, count, " ", title, " ", text), ask, h("div", { class: "row" }, replay, back, next, end));
  back.addEventListener("click", () => go(index - 1));
  next.addEventListener("click", () => (index + 1 < STEPS.length ? go(index + 1) : stop()));
  end.addEventListener("click", stop);

  function confirmRun(step, message) {
    const yes = h("button", { type: "button", class: "small primary", id: "tour-run", text: "Run it" });
    const no = h("button", { type: "button", class: "small", id: "tour-skip", text: "Not now" });
    ask.replaceChildren(h("span", { text: message }), yes, no);
    ask.hidden = false;
    yes.addEventListener("click", async () => {
      ask.hidden = true;
      try {
        await step.run(ctx);
      } catch (err) {
        ctx.onError(err);
      }
    });
    no.addEventListener("click", () => (ask.hidden = true));
  }

  async function go(i) {
    index = Math.max(0, Math.min(i, STEPS.length - 1));
    const step = STEPS[index];
    root.hidden = false;
    caption.hidden = true;
    ask.hidden = true;
    if (ctx.leave) ctx.leave();
    count.textContent = `${index + 1}/${STEPS.length}`;
    title.textContent = step.title;
    text.textContent = step.summary ? ctx.summary() : step.text;
    back.disabled = index === 0;
    replay.hidden = !step.replay;
    next.textContent = index === STEPS.length - 1 ? "Finish" : "Next";
    ctx.highlight(step.highlight, step.spotlight);
    const question = step.ask ? step.ask(ctx) : null;
    if (question) return confirmRun(step, question);
    try {
      await step.run(ctx);
    } catch (err) {
      ctx.onError(err);
    }
  }

  function stop() {
    if (ctx.leave) ctx.leave();
    index = -1;
    root.hidden = true;
    caption.hidden = false;
    ctx.highlight([], null);
  }

  return { start: () => go(0), stop, get active() { return index >= 0; } };
}
