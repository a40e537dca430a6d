// Step labels. Every label that names a step goes through `labelStep`; when the page's step
// (`theStep`: the viewed or the live one) moves past it, the label says that it is older.
import { theStep } from "../state.js";

const labels = new Map(); // element -> {step, text(step), short}

function paint(el) {
  const { step, text, short } = labels.get(el);
  const the = theStep();
  const older = step < the;
  el.dataset.step = String(step);
  el.dataset.older = String(older);
  el.textContent = !older ? text(step) : short ? `${text(step)} (older)` : `${text(step)} (older: the page is at step ${the})`;
}

// text(step) -> the label; short: say "(older)" only (labels inside the diagram's small boxes).
export function labelStep(el, step, text, { short = false } = {}) {
  labels.set(el, { step, text, short });
  paint(el);
}

export function unlabel(el) {
  labels.delete(el);
  delete el.dataset.step;
  delete el.dataset.older;
}

export function refreshStepLabels() {
  for (const el of labels.keys()) {
    if (el.isConnected) paint(el);
    else labels.delete(el);
  }
}
