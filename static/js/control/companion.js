// The FFN-only companion of "what attention adds": a second real session with attention switched
// off, same config and seed, trained as many steps as the main one. Part of the controller: it
// alone creates, trains and deletes that session.
import { LIMITS } from "../config.js";
import { blocksOf } from "../state.js";

// SessionCreate.optimizer accepts only these (SessionInfo.optimizer may carry more).
const OPTIMIZER_KEYS = ["lr", "weight_decay", "beta1", "beta2", "batch_size", "eval_every"];

function companionBody(session, customText) {
  const { vocab_size: _v, seed: _s, ...config } = session.config;
  const optimizer = Object.fromEntries(Object.entries(session.optimizer || {}).filter(([k]) => OPTIMIZER_KEYS.includes(k)));
  const body = { preset: session.preset, tokenizer: session.tokenizer, seed: session.seed, probe: session.probe,
    config: { ...config, use_attention: false, use_ffn: true }, optimizer };
  if (session.corpus === "custom") {
    if (!customText) throw new Error("This session trains on your own text, which this page no longer has; create the session again from Settings to compare.");
    body.text = customText;
  } else body.corpus = session.corpus;
  return body;
}

export function createCompanion(api) {
  let companion = null; // SessionInfo of the FFN-only session, plus `for`: the main session's id
  let stop = false;

  // The word's vector after the first block (hook point `stage`) in both sentences, on session
  // `id` (at its live step).
  async function vectors(id, stage, { word, a, b }) {
    const res = [];
    for (const text of [a, b]) {
      const r = await api.forward(id, text, { stages: [stage] });
      const idx = r.tokens.map((t) => t.text).lastIndexOf(word);
      if (idx < 0) throw new Error(`"${word}" is not a token of "${text}" (tokens: ${r.tokens.map((t) => t.text).join(" ")}).`);
      const out = r.stages.find((st) => st.name === stage);
      res.push({ idx, vec: out.values[idx], step: r.step, unknown: r.tokens[idx].unknown, next: r.predictions[idx] });
    }
    return res;
  }

  async function drop() {
    if (!companion) return;
    const id = companion.id;
    companion = null;
    await api.deleteSession(id).catch(() => {});
  }

  // Creates (once) and trains the FFN-only session up to `target` steps.
  async function catchUp(session, customText, target, report) {
    if (companion && companion.for !== session.id) await drop();
    if (!companion) companion = { ...(await api.createSession(companionBody(session, customText))), for: session.id };
    if (companion.step > target) companion = { ...(await api.reset(companion.id)), for: session.id };
    while (companion.step < target) {
      if (stop) throw new Error("Stopped: the FFN-only model was not trained up to the same step.");
      const n = Math.min(LIMITS.trainChunk, target - companion.step);
      const r = await api.train(companion.id, n);
      companion.step = r.step;
      report(companion.step / target, `training the FFN-only model: step ${companion.step} of ${target}`);
    }
  }

  // Both models' vectors for the request; ffnOnly is null when the session has no attention.
  async function compare(session, customText, request, report) {
    stop = false;
    const stage = blocksOf(session)[0].stages.resid_post; // the companion has the same blocks
    const withAtt = await vectors(session.id, stage, request);
    if (!session.config.use_attention) return { withAtt, ffnOnly: null };
    await catchUp(session, customText, withAtt[0].step, report);
    return { withAtt, ffnOnly: await vectors(companion.id, stage, request) };
  }

  return {
    compare,
    drop,
    stop: () => (stop = true),
    get id() {
      return companion ? companion.id : null;
    },
  };
}
