// Part of the controller: loads a view's data for a step (null = live) and caches what cannot
// change (stored snapshots, step-0 weights). Returns plain data; never touches the DOM or state.
import { LIMITS } from "../config.js";


export function figuresOf(snap) {
  if (snap.record) return { ...snap.record, lossKind: "train" };
  return { step: snap.step, loss: snap.heldout_loss, lossKind: "heldout", grad_norms: null, update_ratios: null };
}

// ffnStage: the hook point of the FFN's hidden units the FFN view draws.
function fromForward(r, live, figures, ffnStage, note = null) {
  const ffn = (r.stages || []).find((st) => st.name === ffnStage);
  return { step: r.step, live, tokens: r.tokens, attention: r.attention, ffn: ffn ? ffn.values : null,
    predictions: r.predictions, figures, note: note || r.notice || null };
}

export function createLoader(api) {
  let session = null;
  let stages = []; // the hook points the views read: the first block's attention and FFN units
  let snaps = new Map(); // step -> Snapshot (immutable until a reset)
  let inits = new Map(); // weight name -> step-0 values, for "change since step 0"
  let zero = null; // figures of the untouched model
  let inflight = null;
  let seq = 0;

  const snapshot = async (step) => {
    if (!snaps.has(step)) snaps.set(step, await api.snapshot(session.id, step));
    return snaps.get(step);
  };

  return {
    // blocks: the names of the session's blocks (state.names).
    use(info, blocks) {
      session = info;
      stages = [blocks[0].stages.attention_weights, blocks[0].stages.ffn_hidden];
      this.forget();
    },
    forget() {
      snaps = new Map();
      inits = new Map();
      zero = null;
    },
    // A newer request makes older ones stale: callers check `current(ticket)` before using data.
    ticket: () => ++seq,
    current: (ticket) => ticket === seq,

    async stepZero(id, steps) {
      zero = steps.includes(0) ? figuresOf(await snapshot(0)) : null;
      return zero;
    },
    stepZeroFigures: () => zero,

    // {step, live, tokens, attention, ffn, predictions, figures, note} for the sentence.
    async viewed(step, sentence) {
      if (inflight && step === null) inflight.abort();
      if (step === null) {
        inflight = new AbortController();
        const r = await api.forward(session.id, sentence, { stages, signal: inflight.signal });
        return fromForward(r, true, null, stages[1]);
      }
      const snap = await snapshot(step);
      try {
        const r = await api.snapshotForward(session.id, step, sentence, { stages });
        return fromForward(r, false, figuresOf(snap), stages[1]);
      } catch (err) {
        if (err.status !== 404) throw err;
        // Its full weights are gone (a big model, or after a restart): the stored probe sentence.
        const p = snap.probe;
        return { step, live: false, tokens: p.tokens, attention: p.attention, ffn: p.ffn || null,
          predictions: p.predictions || null, figures: figuresOf(snap),
          note: "this step keeps only the probe sentence, shown instead of yours" };
      }
    },

    // {step, live, entry, init} of one weight at the step; init: step-0 values when asked.
    async weight(step, name, withInit) {
      const query = { maxSize: LIMITS.weightSize, names: [name] };
      const res = step === null ? await api.weights(session.id, query)
        : await api.snapshotWeights(session.id, step, query);
      const entry = res.weights.find((x) => x.name === name) || res.weights[0];
      let init = null;
      if (withInit) {
        if (!inits.has(name)) {
          const r0 = await api.snapshotWeights(session.id, 0, query);
          inits.set(name, r0.weights[0].values);
        }
        init = inits.get(name);
      }
      return { step: res.step, live: step === null, entry, init };
    },
  };
}
