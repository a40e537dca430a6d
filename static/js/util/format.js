// Number and shape formatting, with units.

export function num(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (!Number.isFinite(x)) return x > 0 ? "∞" : "−∞";
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(Math.max(digits - 1, 1));
  return Number(x.toPrecision(digits)).toString();
}

// An update ratio ‖ΔW‖ / ‖W‖: the server sends null where W started the step at zero (a bias at
// step 1), where the ratio has no meaning; the page calls that weight "new".
export const updateRatio = (x, digits = 3) => (x === null ? "new" : num(x, digits));

export const fixed = (x, d = 2) => (x === null || x === undefined ? "–" : x.toFixed(d));
export const shape = (dims) => `(${dims.join(", ")})`;
export const times = (dims) => dims.join(" × ");
export const nats = (x) => `${num(x, 4)} nats`;
export const pct = (x) => `${(100 * x).toFixed(x < 0.1 ? 1 : 0)} %`;

// "blocks.{i}.ffn.W_1.weight" -> "W_1"; "tok_emb.weight" -> "tok_emb"
export function shortName(name) {
  const parts = name.split(".");
  const last = parts[parts.length - 1];
  const owner = parts[parts.length - 2] || last;
  if (last === "weight" && owner.startsWith("W_")) return owner;
  if (last === "bias" && owner.startsWith("W_")) return `b${owner.slice(1)}`;
  if (owner.startsWith("ln")) return `${owner}.${last === "weight" ? "γ" : "β"}`;
  return parts.length > 1 ? owner : last;
}
