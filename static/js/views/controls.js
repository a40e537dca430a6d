// The player bar: Train / Pause / +1 step / Reset (asks first), animation speed, step-through
// with "next phase" and "replay", the phase chips, and *the* step number of the page.
import { TIMING } from "../config.js";
import { state, subscribe, theStep } from "../state.js";
import { h, throttle } from "../util/dom.js";
import { refreshStepLabels } from "../util/steps.js";

const SPEED_LABEL = (v) => (v === 0 ? "no animation" : `${v}×`);

// intents: {onPlay, onPause, onStep, onReset, onNextPhase, onReplay, onSpeed(v), onStepThrough(on), onLive}
export function createControls(root, countersRoot, intents) {
  const play = h("button", { type: "button", id: "btn-play", class: "primary", title: "Train continuously (space)",
    onclick: intents.onPlay }, "▶ Train");
  const pause = h("button", { type: "button", id: "btn-pause", title: "Pause training (space)", onclick: intents.onPause }, "❚❚ Pause");
  const step = h("button", { type: "button", id: "btn-step", title: "Train exactly one step and play its four phases (s)",
    onclick: intents.onStep }, "+1 step");
  const reset = h("button", { type: "button", id: "btn-reset", title: "Fresh random weights from the same seed",
    onclick: () => askReset() }, "↺ Reset");
  const speed = h("select", { id: "speed", "aria-label": "Animation speed", title: "Animation speed" },
    ...TIMING.speeds.map((v) => h("option", { value: v, text: SPEED_LABEL(v), selected: v === state.speed })));
  const through = h("input", { type: "checkbox", id: "step-through" });
  const throughLabel = h("label", { class: "check small", for: "step-through",
    title: "Stop after each phase of +1 step until you press Next phase (n)" }, through, " step through");
  const nextPhase = h("button", { type: "button", id: "btn-next-phase", class: "small", disabled: true,
    title: "Show the next phase (n)", onclick: intents.onNextPhase }, "Next phase ▸");
  const replay = h("button", { type: "button", id: "btn-replay", class: "small", disabled: true,
    title: "Play the last step again (r)", onclick: intents.onReplay }, "↻ Replay");
  const counter = h("span", { id: "step-count", class: "counter", "aria-live": "off", text: "step –" });
  const viewNote = h("span", { id: "view-note", class: "view-note small", hidden: true });
  const rate = h("span", { id: "step-rate", class: "muted small" });
  const anim = h("span", { id: "anim-count", class: "muted small", title: "When training outruns the eye, " +
    "one step in N is animated and the others are counted." });
  const chips = h("ol", { class: "phases", id: "phases", "aria-label": "Phases of a training step" });
  const confirmBox = h("div", { class: "confirm", id: "reset-confirm", role: "alertdialog", hidden: true,
    "aria-label": "Reset the model?" });
  root.append(h("div", { class: "player-row" }, play, pause, step, reset, speed, counter, viewNote),
    h("div", { class: "player-row" }, throughLabel, nextPhase, replay, chips), confirmBox);
  countersRoot.append(rate, anim);
  speed.addEventListener("change", () => intents.onSpeed(Number(speed.value)));
  through.addEventListener("change", () => intents.onStepThrough(through.checked));

  function askReset() {
    if (state.liveStep === 0) return intents.onReset();
    const yes = h("button", { type: "button", class: "primary small", id: "btn-reset-yes", text: "Reset" });
    const no = h("button", { type: "button", class: "small", id: "btn-reset-no", text: "Keep training" });
    confirmBox.replaceChildren(h("span", { text: `Throw away ${state.liveStep.toLocaleString()} steps of training and ` +
      "start again from the same random weights? The loss history goes too." }), yes, no);
    confirmBox.hidden = false;
    no.focus();
    const close = () => {
      confirmBox.hidden = true;
      reset.focus();
    };
    yes.addEventListener("click", () => {
      close();
      intents.onReset();
    });
    no.addEventListener("click", close);
  }

  // The step number changes at once (a text node and a few labels: cheap even at 100 steps/s),
  // so no label on the page is ever newer than it; the rate is computed at most every 100 ms.
  function showStep() {
    const the = theStep();
    counter.textContent = `step ${the.toLocaleString()}`;
    counter.dataset.step = String(the);
    viewNote.hidden = state.viewing === null;
    if (state.viewing !== null) viewNote.textContent = `stored step · live model at step ${state.liveStep.toLocaleString()}`;
    refreshStepLabels();
    showRate();
  }
  const rates = [];
  const showRate = throttle(() => {
    const now = performance.now();
    rates.push([now, state.liveStep]);
    while (rates.length > 2 && now - rates[0][0] > 3000) rates.shift();
    const [t0, s0] = rates[0];
    const perSec = now > t0 ? ((state.liveStep - s0) * 1000) / (now - t0) : 0;
    rate.textContent = state.running && perSec > 0 ? `${perSec.toFixed(perSec < 10 ? 1 : 0)} steps/s` : "";
  }, TIMING.counterFlushMs);

  function setButtons() {
    const ready = Boolean(state.session);
    play.disabled = !ready || state.running;
    pause.disabled = !ready || !state.running;
    step.disabled = !ready || state.running;
    reset.disabled = !ready || state.running;
    play.setAttribute("aria-pressed", String(state.running));
    root.classList.toggle("fresh", ready && state.liveStep === 0 && !state.running);
  }

  // phase: the one playing (null when idle); waiting: a step-through run stopped after it.
  function setPhase(phase, waiting = false, canReplay = false) {
    for (const li of chips.children) {
      li.classList.toggle("active", li.dataset.phase === phase);
      li.classList.toggle("waiting", waiting && li.dataset.phase === phase);
    }
    nextPhase.disabled = !waiting;
    replay.disabled = !canReplay || state.running;
  }

  // Called for every arriving step; the text changes at most every TIMING.counterFlushMs.
  const setCounts = throttle(({ animated, summarised }) => {
    anim.textContent = summarised ? `animated ${animated} · summarised ${summarised}` : "";
  }, TIMING.counterFlushMs);

  // Space toggles training, "s" steps, "n" next phase, "r" replay, unless typing in a field.
  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (e.altKey || e.ctrlKey || e.metaKey || t.closest("input, textarea, select, [contenteditable], button, [role=button]")) return;
    if (e.key === " ") {
      e.preventDefault();
      (state.running ? intents.onPause : intents.onPlay)();
    } else if (e.key === "s" && !state.running) intents.onStep();
    else if (e.key === "n") intents.onNextPhase();
    else if (e.key === "r" && !state.running) intents.onReplay();
  });

  subscribe(["names"], () => chips.replaceChildren(...state.names.phases.map((p) => h("li", { "data-phase": p, text: p }))));
  subscribe(["liveStep", "viewing", "session"], showStep);
  subscribe(["running", "session", "liveStep"], setButtons);
  subscribe(["speed"], () => (speed.value = String(state.speed)));
  subscribe(["stepThrough"], () => (through.checked = state.stepThrough));
  setButtons();
  return { setPhase, setCounts };
}
