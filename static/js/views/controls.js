// The player bar: train (play), pause, one step, animation speed, the step counter, the phase
// chips and the "animated 1 in N" summary.
import { PHASES, TIMING } from "../config.js";
import { state, subscribe, update } from "../state.js";
import { h, throttle } from "../util/dom.js";

export function createControls(root, countersRoot, { onPlay, onPause, onStep }) {
  const play = h("button", { type: "button", id: "btn-play", class: "primary", title: "Train continuously (space)",
    onclick: onPlay }, "▶ Train");
  const pause = h("button", { type: "button", id: "btn-pause", title: "Pause training (space)", onclick: onPause }, "❚❚ Pause");
  const step = h("button", { type: "button", id: "btn-step", title: "Train exactly one step and animate it (s)",
    onclick: onStep }, "+1 step");
  const speed = h("select", { id: "speed", "aria-label": "Animation speed" },
    ...TIMING.speeds.map((v) => h("option", { value: v, text: `${v}×`, selected: v === 1 })));
  const counter = h("span", { id: "step-count", class: "counter", "aria-live": "off", text: "step –" });
  const rate = h("span", { id: "step-rate", class: "muted small" });
  const anim = h("span", { id: "anim-count", class: "muted small", title: "When training outruns the eye, " +
    "one step in N is animated and the others are counted." });
  const chips = h("ol", { class: "phases", id: "phases", "aria-label": "Phases of a training step" },
    ...PHASES.map((p) => h("li", { "data-phase": p, text: p })));
  root.append(play, pause, step, speed, chips, counter);
  countersRoot.append(rate, anim);
  speed.addEventListener("change", () => update({ speed: Number(speed.value) }));

  const rates = [];
  const showStep = throttle(() => {
    counter.textContent = `step ${state.step}`;
    counter.dataset.step = String(state.step);
    const now = performance.now();
    rates.push([now, state.step]);
    while (rates.length > 2 && now - rates[0][0] > 3000) rates.shift();
    const [t0, s0] = rates[0];
    const perSec = now > t0 ? ((state.step - s0) * 1000) / (now - t0) : 0;
    rate.textContent = state.running && perSec > 0 ? `${perSec.toFixed(perSec < 10 ? 1 : 0)} steps/s` : "";
  }, TIMING.counterFlushMs);

  function setButtons() {
    const ready = Boolean(state.session);
    play.disabled = !ready || state.running;
    pause.disabled = !ready || !state.running;
    step.disabled = !ready || state.running;
    play.setAttribute("aria-pressed", String(state.running));
  }

  function setPhase(phase) {
    for (const li of chips.children) li.classList.toggle("active", li.dataset.phase === phase);
  }

  // Called for every arriving step; the text changes at most every TIMING.counterFlushMs.
  const setCounts = throttle(({ animated, summarised }) => {
    anim.textContent = summarised ? `animated ${animated} · summarised ${summarised}` : animated ? `animated ${animated}` : "";
  }, TIMING.counterFlushMs);

  // Space toggles training, "s" steps, unless typing in a field.
  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (e.altKey || e.ctrlKey || e.metaKey || t.closest("input, textarea, select, [contenteditable], button, [role=button]")) return;
    if (e.key === " ") {
      e.preventDefault();
      (state.running ? onPause : onPlay)();
    } else if (e.key === "s" && !state.running) onStep();
  });

  subscribe(["step", "session"], showStep);
  subscribe(["running", "session"], setButtons);
  setButtons();
  return { setPhase, setCounts };
}
