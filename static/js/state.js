// One state object and a tiny subscribe. Views read `state`, change it only through `update`,
// and are told which keys changed.

export const state = {
  presets: [],
  corpora: null, // {corpora, default, max_user_text_chars}
  session: null, // SessionInfo of the main session
  step: 0,
  running: false,
  comparing: false,
  speed: 1,
  lastRecord: null, // latest StepRecord
  sentence: "", // the sentence the attention and FFN views read
  selectedToken: null, // index into that sentence's tokens
  selectedWeight: null, // parameter name, e.g. "blocks.0.ffn.W_1.weight"
  snapshots: [], // steps with stored snapshots
  scrub: null, // null = live; else {step, snapshot}
  comparison: null, // AblationResult
  tab: "attention",
  customText: null, // the user's own corpus, when this page created the session from it
};

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
