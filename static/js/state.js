// The page state: one object every view renders from, changed only through `update`, which tells
// subscribers which keys changed. Two steps matter: `liveStep` (where the model is) and
// `viewing` (null = live, else a stored step). Every view shows `viewed`, the data of the step
// being viewed, so scrubbing moves all of them together.

export const state = {
  presets: [],
  // Names shared with the server (GET /api/names): {phases, variants: {both, attention_only,
  // ffn_only}, max_blocks, blocks: [{index, name, label, stages, weights}]}.
  names: null,
  corpora: null, // {corpora, default, max_user_text_chars}
  session: null, // SessionInfo of the main session
  liveStep: 0,
  running: false,
  comparing: false,
  viewing: null, // null = live; else the stored step being viewed
  // The data of the viewed step, for the sentence below: {step, live, tokens, attention, ffn,
  // predictions, figures, note}. figures: the diagram's numbers ({step, loss, lossKind, grad_norms,
  // update_ratios}, grad_norms/update_ratios null at step 0).
  viewed: null,
  baseline: null, // the same sentence at step 0, for "step 0 vs now" (null when off)
  contrast: "off", // "off" | "side" | "diff"
  weightData: null, // {step, live, entry} of the selected weight at the viewed step
  lastRecord: null, // latest StepRecord
  sentence: "", // the sentence the attention and FFN views read
  selectedToken: null, // index into that sentence's tokens
  tokenPicked: false, // the learner chose the token (else the page picks the most focused one)
  selectedWeight: null, // parameter name, one of state.names.blocks[i].weights
  weightMode: "now", // "now" | "change" (since step 0)
  gradcheck: null, // the last gradient check (API GradCheck), or {error} when it was refused
  snapshots: [], // steps with stored snapshots
  comparison: null, // AblationResult
  contextResult: null, // {word, step, withAttention, ffnOnly}: the last "what attention adds" distances
  tab: "attention",
  speed: 1, // animation speed factor; 0 = no animation
  stepThrough: false, // stop after each phase of "+1 step"
  phase: null, // the phase on screen while a step plays, else null
  predict: { on: false, asked: 0, right: 0 }, // predict-then-reveal: switch and score (localStorage)
  customText: null, // the user's own corpus, when this page created the session from it
  watching: null, // the watch token when this page is a read-only watch link (/watch/{token})
  streamEnded: null, // the reason the server gave when it ended the stream for good ("bye")
  watchLinks: [], // the owner's watch links of this session [{token, path, created}]
  runs: [], // other runs on the loss chart [{ref, info, steps, loss}] (views/runs.js)
};

// The one step the page is about: the viewed one, or the live one.
export const theStep = () => (state.viewing === null ? state.liveStep : state.viewing);

// The names of a session's blocks (input side first), from the shared names.
export const blocksOf = (session = state.session) =>
  (state.names && session ? state.names.blocks.slice(0, session.config.n_blocks) : []);

// Every block's weight matrices that the session has, in diagram order: [{name, short, block}]
// (name: the parameter, e.g. "blocks.1.attn.W_q.weight"; short: "W_q"; block: its names entry).
export const matricesOf = (session = state.session) =>
  blocksOf(session).flatMap((block) => Object.entries(block.weights)
    .filter(([, name]) => session && session.shapes && session.shapes[name])
    .map(([short, name]) => ({ name, short, block })));

const listeners = [];

export function subscribe(keys, fn) {
  const entry = { keys: new Set(keys), fn };
  listeners.push(entry);
  return () => listeners.splice(listeners.indexOf(entry), 1);
}

export function update(patch) {
  const changed = Object.keys(patch).filter((k) => state[k] !== patch[k]);
  if (!changed.length) return;
  Object.assign(state, patch);
  for (const { keys, fn } of [...listeners]) {
    if (changed.some((k) => keys.has(k))) fn(state, changed);
  }
}
