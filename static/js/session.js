// The page's address: the SessionCreate body a query asks for, and the shareable URL (session id +
// preset, corpus, seed and any changed config) written back. No network here.
import { URL_KEYS } from "./config.js";

const NUMERIC = new Set(["seed", "d_model", "n_heads", "d_ff", "context_length", "n_blocks", "dropout",
  "lr", "batch_size", "weight_decay"]);
const BOOLEAN = new Set(["residual", "use_attention", "use_ffn"]);

function setPath(obj, path, value) {
  const keys = path.split(".");
  const last = keys.pop();
  keys.reduce((o, k) => (o[k] ||= {}), obj)[last] = value;
}

function getPath(obj, path) {
  return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function parse(key, raw) {
  if (NUMERIC.has(key)) return Number(raw);
  if (BOOLEAN.has(key)) return raw === "true" || raw === "1";
  return raw;
}

// SessionCreate body from the URL's query (only what the URL says; the API fills in the rest).
export function bodyFromQuery(params) {
  const body = {};
  for (const [key, path] of Object.entries(URL_KEYS)) {
    if (params.has(key)) setPath(body, path, parse(key, params.get(key)));
  }
  return body;
}

// Model and optimiser defaults the presets do not set (mirrors model/config.py and the contract).
const BASE = {
  config: { n_blocks: 1, activation: "gelu", use_attention: true, use_ffn: true, residual: true, norm: "pre", dropout: 0 },
  optimizer: { weight_decay: 0.01 },
};

// Query that reproduces a session: preset, corpus, seed, tokenizer, plus fields that differ from the preset.
export function queryFor(info, presets) {
  const q = new URLSearchParams({ session: info.id, preset: info.preset, seed: String(info.seed), tokenizer: info.tokenizer });
  if (info.corpus !== "custom") q.set("corpus", info.corpus);
  const preset = presets.find((p) => p.name === info.preset) || { config: {} };
  const base = { config: { ...BASE.config, ...preset.config },
    optimizer: { ...BASE.optimizer, lr: preset.lr, batch_size: preset.batch_size } };
  for (const [key, path] of Object.entries(URL_KEYS)) {
    if (!path.includes(".")) continue;
    const v = getPath(info, path);
    if (v !== undefined && v !== getPath(base, path)) q.set(key, String(v));
  }
  return q;
}

export function writeUrl(info, presets) {
  const url = `${location.pathname}?${queryFor(info, presets).toString()}`;
  history.replaceState(null, "", url);
}
