// The "step 0 vs now" toggle shared by the attention and FFN views (both follow `state.contrast`).
import { h } from "../util/dom.js";

const MODES = [["off", "off"], ["side", "side by side"], ["diff", "difference"]];

export function contrastToggle(id, onChange, modes = MODES.map(([m]) => m)) {
  const el = h("div", { class: "seg small", role: "radiogroup", id, "aria-label": "Compare with step 0" },
    h("span", { class: "muted small", text: "step 0 vs now: " }),
    ...MODES.filter(([mode]) => modes.includes(mode)).map(([mode, label]) => h("button", { type: "button", role: "radio", "data-mode": mode, text: label,
      onclick: () => onChange(mode) })));
  const set = (mode) => {
    for (const b of el.querySelectorAll("button")) b.setAttribute("aria-checked", String(b.dataset.mode === mode));
  };
  set("off");
  return { el, set };
}
