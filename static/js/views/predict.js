// Predict, then reveal: a "predict first" switch with the score, a question with one button per
// answer (and "skip"), and the reveal once the model has answered. Asks and tells; it computes
// nothing (control/predicting.js does). Draws `state.predict` ({on, asked, right}).
import { state, subscribe } from "../state.js";
import { h } from "../util/dom.js";

// intents: {onPredictToggle(on)}
export function createPredict(root, intents) {
  const toggle = h("input", { type: "checkbox", id: "predict-on" });
  const score = h("span", { class: "muted small", id: "predict-score" });
  const question = h("div", { class: "confirm", id: "predict-ask", hidden: true });
  const reveal = h("p", { class: "small", id: "predict-reveal", hidden: true });
  root.append(
    h("div", { class: "row" }, h("label", { class: "small" }, toggle,
      " Predict first: before each \"+1 step\", guess which matrix will change most"), score),
    question, reveal,
  );
  toggle.addEventListener("change", () => intents.onPredictToggle(toggle.checked));
  let pending = null; // resolves the question on screen

  function close(value) {
    question.hidden = true;
    const resolve = pending;
    pending = null;
    if (resolve) resolve(value);
  }

  // Shows a question; resolves with the chosen value, or null when skipped or replaced.
  // choices: [{value, label}].
  function ask(text, choices) {
    close(null);
    reveal.hidden = true;
    question.replaceChildren(h("span", { text }),
      ...choices.map((c) => h("button", { type: "button", class: "small predict-choice", "data-choice": c.value,
        text: c.label, onclick: () => close(c.value) })),
      h("button", { type: "button", class: "small", id: "predict-skip", text: "Skip", onclick: () => close(null) }));
    question.hidden = false;
    return new Promise((resolve) => (pending = resolve));
  }

  // A yes/no question (e.g. "this takes about 20 s: run it?"); resolves true or false.
  function confirm(text, yes = "Run it") {
    close(null);
    question.replaceChildren(h("span", { text }),
      h("button", { type: "button", class: "small primary", id: "predict-yes", text: yes, onclick: () => close(true) }),
      h("button", { type: "button", class: "small", id: "predict-no", text: "Not now", onclick: () => close(false) }));
    question.hidden = false;
    return new Promise((resolve) => (pending = resolve)).then(Boolean);
  }

  // guess: the learner's value or null; answer: the model's; text: the evidence in words.
  function tell(guess, answer, text) {
    const verdict = guess === null ? "" : guess === answer ? "Right! " : `Not this time (you said ${guess}). `;
    reveal.replaceChildren(h("strong", { text: verdict }), text);
    reveal.dataset.answer = answer;
    reveal.dataset.guess = guess ?? "";
    reveal.hidden = false;
  }

  function render() {
    const p = state.predict;
    toggle.checked = p.on;
    score.textContent = p.asked ? `score ${p.right} / ${p.asked}` : "no predictions yet";
    score.dataset.right = String(p.right);
    score.dataset.asked = String(p.asked);
  }

  subscribe(["predict"], render);
  render();
  return { ask, confirm, tell, cancel: () => close(null) };
}
