// Predict, then reveal: the answers the page checks a learner's guess against, and the score.
// The score lives in `state.predict` ({on, asked, right}) and in localStorage, so it survives a
// reload. The answers come from the server's own numbers: a step's record, a forward pass.
import { blocksOf, matricesOf, state, update } from "../state.js";
import { averageHeads } from "../focus.js";

const KEY = "attnflow.predict";
// Block 0's hook points, as the server names them (GET /api/names).
const firstBlock = () => blocksOf()[0] || { weights: {}, stages: {} };

export function loadScore() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "null");
    if (saved && Number.isInteger(saved.asked) && Number.isInteger(saved.right)) {
      return { on: Boolean(saved.on), asked: saved.asked, right: Math.min(saved.right, saved.asked) };
    }
  } catch {
    // storage off or a foreign value: start from zero
  }
  return { on: false, asked: 0, right: 0 };
}

export function setPredict(patch) {
  const next = { ...state.predict, ...patch };
  update({ predict: next });
  try {
    localStorage.setItem(KEY, JSON.stringify(next));
  } catch {
    // private mode: the score lasts for this page only
  }
}

// One answered question: `right` true/false; a skipped one (no guess) does not count.
export function scoreAnswer(right) {
  setPredict({ asked: state.predict.asked + 1, right: state.predict.right + (right ? 1 : 0) });
}

// Every block's matrices this session has, in diagram order: {name (the parameter), label}, the
// label "W_q" with one block and "W_q · block 2" with several.
export function matrixChoices(session) {
  const several = blocksOf(session).length > 1;
  return matricesOf(session).map((m) => ({ name: m.name, label: several ? `${m.short} · ${m.block.label}` : m.short }));
}

// The matrix that changed most in a step (its label), by the update ratio ‖ΔW‖ / ‖W‖ (the
// diagram's ΔW/W); a null ratio ("new") cannot be compared and is skipped.
export function mostChanged(record, choices) {
  const ratios = choices.map((c) => ({ m: c.label, ratio: (record.update_ratios || {})[c.name] }))
    .filter((x) => typeof x.ratio === "number");
  if (!ratios.length) return null;
  const best = ratios.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  return { answer: best.m, ratios };
}

// The earlier position token `index` attends to most, heads averaged. attention: [H][T][T].
export function mostAttended(attention, index) {
  if (!attention || index < 1) return null;
  const row = averageHeads(attention, index).slice(0, index); // earlier words only
  const j = row.reduce((best, p, k) => (p > row[best] ? k : best), 0);
  return { position: j, weight: row[j], row };
}

export const TOUR_STEPS = 200; // "after 200 steps": long enough for "sat" to find "cat" on catmat

// The two questions, as flows the controller runs: before/after "+1 step", and the tour's.
// deps: {api, c (controller side: ingest, heldout, views), show(step)}.
export function createPredictFlows({ api, c, show }) {
  const v = () => c.views;
  let asking = false;

  // Before "+1 step": the learner's guess (a matrix name), null when prediction is off or the
  // learner skipped, undefined when a question is already on screen (the click does nothing).
  async function beforeStep() {
    if (!state.predict.on) return null;
    if (asking) return undefined;
    asking = true;
    try {
      const choices = matrixChoices(state.session).map((c) => ({ value: c.label, label: c.label }));
      return await v().predict.ask("Which matrix will change most in this step, by ΔW/W = ‖ΔW‖ / ‖W‖?", choices);
    } finally {
      asking = false;
    }
  }

  // After the step: the answer from that step's own record.
  function afterStep(guess, record) {
    if (guess === null || guess === undefined || !record) return;
    const found = mostChanged(record, matrixChoices(state.session));
    if (!found) return;
    const list = found.ratios.map((x) => `${x.m} ${x.ratio.toPrecision(2)}`).join(", ");
    v().predict.tell(guess, found.answer, `Step ${record.step}: ${found.answer} changed most (ΔW/W: ${list}).`);
    scoreAnswer(guess === found.answer);
  }

  async function forwardProbe() {
    return api.forward(state.session.id, state.session.probe, { stages: [firstBlock().stages.attention_weights] });
  }

  // The tour: which earlier word will "sat" (else the most focused token) attend to most after
  // TOUR_STEPS more steps? Asks, says how long the training takes, trains, reveals from /forward.
  async function tourAttention() {
    const before = await forwardProbe();
    if (!before.attention) return v().predict.tell(null, "", "This model has no attention to predict.");
    const words = before.tokens.map((t) => t.text);
    const sat = words.indexOf("sat");
    const index = sat >= 1 ? sat : words.length - 1;
    // The earlier words, numbered only where one repeats before "sat".
    const earlier = words.slice(0, index);
    const labels = earlier.map((w, j) => (earlier.indexOf(w) === earlier.lastIndexOf(w) ? w : `${w} (${j + 1})`));
    const choices = labels.map((label) => ({ value: label, label }));
    const guess = await v().predict.ask(`After ${TOUR_STEPS} more steps, which earlier word will "${words[index]}" ` +
      `attend to most (averaged over its ${before.attention.length} heads)?`, choices);
    if (guess === null) return;
    const ms = state.lastRecord && state.lastRecord.time_ms ? state.lastRecord.time_ms : 7;
    const seconds = Math.max(1, Math.round((TOUR_STEPS * ms * 1.3) / 1000));
    const go = await v().predict.confirm(`That needs ${TOUR_STEPS} training steps: about ${seconds} s here ` +
      "(measured from this session's last step). Train them now?");
    if (!go) return;
    const task = v().status.progress(`Training ${TOUR_STEPS} steps`);
    try {
      const r = await api.train(state.session.id, TOUR_STEPS);
      for (const e of r.evals || []) c.heldout(e.step, e.heldout_loss);
      for (const rec of r.records) c.ingest(rec, "quiet");
    } finally {
      task.done();
    }
    const after = await forwardProbe();
    const top = mostAttended(after.attention, index);
    await show(null);
    v().predict.tell(guess, labels[top.position], `At step ${after.step}, "${words[index]}" puts ` +
      `${Math.round(100 * top.weight)} % of its attention on "${words[top.position]}" (from a forward pass of ` +
      `"${state.session.probe}").`);
    scoreAnswer(guess === labels[top.position]);
  }

  return { beforeStep, afterStep, tourAttention };
}
