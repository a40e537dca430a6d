// Accessible tabs for the secondary views (arrow keys move between tabs).
import { state, subscribe, update } from "../state.js";
import { $$ } from "../util/dom.js";

export function createTabs(root, onShow) {
  const tabs = $$("[role=tab]", root);

  function show(name) {
    for (const t of tabs) {
      const on = t.dataset.tab === name;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    }
    onShow(name);
  }

  for (const t of tabs) {
    t.addEventListener("click", () => update({ tab: t.dataset.tab }));
    t.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(t);
      const j = e.key === "ArrowRight" ? i + 1 : e.key === "ArrowLeft" ? i - 1 : null;
      if (j === null) return;
      const next = tabs[(j + tabs.length) % tabs.length];
      next.focus();
      update({ tab: next.dataset.tab });
    });
  }
  subscribe(["tab"], () => show(state.tab));
  show(state.tab);
  return { open: (name) => update({ tab: name }), isOpen: (name) => state.tab === name };
}
