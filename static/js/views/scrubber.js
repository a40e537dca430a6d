// History scrubber: slide back through stored snapshots; the last position, one past the last
// snapshot, is "live". Below the slider, ticks on a step axis show where snapshots exist and a
// line says how the server keeps them (0 and every power of two, plus every k steps).
import { TIMING } from "../config.js";
import { state, subscribe } from "../state.js";
import { debounce, h, s, throttle } from "../util/dom.js";

const isPow2 = (n) => n > 0 && (n & (n - 1)) === 0;

// The periodic spacing of the non-geometric snapshots (null when there are none yet).
export function period(steps) {
  const periodic = steps.filter((x) => x > 0 && !isPow2(x));
  if (!periodic.length) return null;
  let g = 0;
  const gcd = (a, b) => (b ? gcd(b, a % b) : a);
  for (const x of periodic) g = gcd(g, x);
  return g;
}

// intents: {onScrub(step), onLive(), onOpen()} (onOpen: the learner reached for the slider)
export function createScrubber(root, intents) {
  const slider = h("input", { type: "range", id: "scrubber", min: 0, max: 0, value: 0, step: 1,
    "aria-label": "Stored step to show" });
  const label = h("output", { id: "scrub-label", for: "scrubber", text: "live" });
  const live = h("button", { type: "button", class: "small", id: "scrub-live", text: "Back to live", disabled: true,
    onclick: () => intents.onLive() });
  const ticks = s("svg", { class: "ticks", id: "scrub-ticks", viewBox: "0 0 1000 14", preserveAspectRatio: "none",
    "aria-hidden": "true" });
  const rule = h("span", { class: "muted small", id: "scrub-rule" });
  root.append(h("div", { class: "scrub-row" }, h("span", { class: "scrub-title", text: "History" }), slider, label, live),
    h("div", { class: "scrub-row" }, h("span", { class: "scrub-title" }), h("div", { class: "ticks-box" }, ticks), rule));

  function drawTicks() {
    const steps = state.snapshots;
    const end = Math.max(state.liveStep, steps[steps.length - 1] || 0, 1);
    ticks.replaceChildren(...steps.map((x) => s("line", { x1: (1000 * x) / end, x2: (1000 * x) / end, y1: 2, y2: 12,
      class: x === state.viewing ? "tick on" : "tick" })),
    s("line", { x1: 999, x2: 999, y1: 0, y2: 14, class: `tick live${state.viewing === null ? " on" : ""}` }));
    const k = period(steps);
    const which = steps.length <= 6 ? steps.join(", ") : `0, 1, 2, 4, 8 …${k ? ` and every ${k}` : ""}`;
    rule.textContent = `Stored steps (ticks): ${which}; the right end is live (step ${state.liveStep.toLocaleString()})`;
  }

  let moving = false; // the learner moved the slider and its pick is still to come
  function syncSlider() {
    const steps = state.snapshots;
    slider.max = String(steps.length);
    const at = state.viewing === null ? steps.length : steps.indexOf(state.viewing);
    if (at >= 0 && !moving) slider.value = String(at);
    slider.setAttribute("aria-valuetext", state.viewing === null ? "live" : `step ${state.viewing}`);
    slider.title = `${steps.length} stored snapshots: steps ${steps.slice(0, 6).join(", ")}${steps.length > 6 ? " …" : ""}`;
  }

  const pick = debounce(() => {
    moving = false;
    const i = Number(slider.value);
    if (i >= state.snapshots.length) return intents.onLive();
    const step = state.snapshots[i];
    if (step !== undefined) intents.onScrub(step);
  }, TIMING.scrubDebounceMs);
  slider.addEventListener("input", () => {
    moving = true;
    const i = Number(slider.value);
    label.textContent = i >= state.snapshots.length ? "live" : `step ${state.snapshots[i]} …`;
    pick();
  });
  // The list grows while training: refresh it when the learner reaches for the slider.
  slider.addEventListener("pointerdown", () => state.viewing === null && intents.onOpen());
  slider.addEventListener("focus", () => state.viewing === null && intents.onOpen());

  function showViewing() {
    const v = state.viewing;
    const loss = state.viewed && state.viewed.step === v && state.viewed.figures ? state.viewed.figures.loss : null;
    label.textContent = v === null ? "live" : `step ${v}${Number.isFinite(loss) ? ` · loss ${loss.toFixed(3)}` : ""}`;
    label.dataset.step = v === null ? "" : String(v);
    live.disabled = v === null;
    root.classList.toggle("scrubbing", v !== null);
    syncSlider();
    drawTicks();
  }

  subscribe(["snapshots"], () => {
    syncSlider();
    drawTicks();
  });
  subscribe(["viewing", "viewed"], showViewing);
  subscribe(["liveStep"], throttle(drawTicks, 500));
  return {};
}
