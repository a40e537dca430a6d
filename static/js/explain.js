// One plain sentence per phase of a training step, with that step's real figures. Pure: no DOM.
import { num, updateRatio } from "./util/format.js";

const ATTN = ["W_q", "W_k", "W_v", "W_o"];
const FFN = ["W_1", "W_2"];

function largest(values, names) {
  return names.filter((n) => values[n.p] !== undefined && values[n.p] !== null) // null: a "new" ratio
    .reduce((best, n) => (best === null || values[n.p] > values[best.p] ? n : best), null);
}

// block: the names of the block the sentence is about ({weights: {W_q: parameter name, …}}).
const params = (block, shorts) => shorts.map((w) => ({ w, p: block.weights[w] }));

// phase: "forward" | "loss" | "backward" | "update"; record: StepRecord; session: SessionInfo;
// block: the names of its first block (state.names).
export function phaseSentence(phase, record, session, block) {
  const [B, T] = session.batch_shape;
  const cfg = session.config;
  const step = record.step;
  if (phase === "forward") {
    const parts = [cfg.use_attention ? "attention mixes each token with the ones before it" : null,
      cfg.use_ffn ? "the FFN works on each mixed vector" : null].filter(Boolean).join(", then ");
    return `Step ${step}, forward: a batch of ${B} × ${T} tokens goes in; ${parts || "no block is on"}; ` +
      "the output guesses each next token.";
  }
  if (phase === "loss") {
    const guess = Math.log(session.vocab_size);
    return `Loss ${num(record.loss, 3)} nats per token at step ${step} (guessing evenly among ` +
      `${session.vocab_size} tokens would give ${num(guess, 3)}).`;
  }
  const values = phase === "backward" ? record.grad_norms || {} : record.update_ratios || {};
  const attn = cfg.use_attention ? params(block, ATTN) : [];
  const ffn = cfg.use_ffn ? params(block, FFN) : [];
  if (phase === "backward") {
    const top = largest(values, attn);
    const ffnText = ffn.map((n) => `${n.w} ${num(values[n.p], 2)}`).join(", ");
    if (!top) return `Step ${step}, backward: the gradient reaches the FFN first (‖g‖ ${ffnText}).`;
    const q = attn.find((n) => n.w === "W_q");
    const qText = `the gradient reaching W_q has norm ${num(values[q.p], 2)}`;
    const rank = top.w === "W_q" ? ", the largest of attention's four" : `; the largest of attention's four reaches ${top.w} (${num(values[top.p], 2)})`;
    return `Step ${step}, backward: the gradient passes ${ffn.length ? `the FFN (‖g‖ ${ffnText}) ` : ""}` +
      `and flows on into attention: ${qText}${rank}.`;
  }
  const all = [...attn, ...ffn];
  const top = largest(values, all);
  if (!top) return `Step ${step}, update: every weight moves a little.`;
  const percent = (v) => (v === null ? updateRatio(v) : `${num(100 * v, 2)} %`);
  const others = all.filter((n) => n !== top).map((n) => `${n.w} ${percent(values[n.p])}`).join(", ");
  return `Step ${step}, update: AdamW moves every weight by a small fraction of its size; ${top.w} moved most, ` +
    `${num(100 * values[top.p], 2)} % (ΔW/W ${num(values[top.p], 2)}); ${others}.`;
}
