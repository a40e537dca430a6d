// Accessible tabs for the secondary views (arrow keys move between tabs). Shows `state.tab`;
// a click asks for another tab through onSelect.
import { state, subscribe } from "../state.js";
import { $$ } from "../util/dom.js";

export function createTabs(root, onSelect) {
  const tabs = $$("[role=tab]", root);

  function show(name) {
    for (const t of tabs) {
      const on = t.dataset.tab === name;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    }
  }

  for (const t of tabs) {
    t.addEventListener("click", () => onSelect(t.dataset.tab));
    t.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(t);
      const j = e.key === "ArrowRight" ? i + 1 : e.key === "ArrowLeft" ? i - 1 : null;
      if (j === null) return;
      const next = tabs[(j + tabs.length) % tabs.length];
      next.focus();
      onSelect(next.dataset.tab);
    });
  }
  subscribe(["tab"], () => show(state.tab));
  show(state.tab);
  return {};
}
