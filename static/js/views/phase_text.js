// The line under the diagram that says, in one plain sentence with real figures, what the phase
// on screen does; at rest it says what to do next.
import { phaseSentence } from "../explain.js";
import { blocksOf, state } from "../state.js";
import { h } from "../util/dom.js";
import { num } from "../util/format.js";

export function createPhaseText(root) {
  const text = h("span", { id: "phase-text-body" });
  root.append(text);

  function restText() {
    if (!state.session) return "";
    if (state.viewing !== null) return `You are looking at stored step ${state.viewing}. "Back to live" returns to the model now.`;
    if (state.liveStep === 0) {
      return "Step 0: attention and the FFN both hold random weights and nothing is learned yet. " +
        "Press +1 step to watch one training step, phase by phase, or Train to run.";
    }
    const r = state.lastRecord;
    return r ? `Step ${r.step} done: loss ${num(r.loss, 3)} nats per token. Replay it, tick "step through" to stop after each phase, or keep training.` : "";
  }

  // phase: one of state.names.phases or null (at rest); waiting: a step-through run stopped after it.
  function show(phase, record, waiting = false) {
    root.dataset.phase = phase || "idle";
    if (!phase || !record) {
      text.textContent = restText();
      return;
    }
    text.textContent = phaseSentence(phase, record, state.session, blocksOf()[0]) + (waiting ? " Press Next phase (n) to go on." : "");
  }

  return { show };
}
