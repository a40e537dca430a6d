// Distances between two vectors (the word's vector in two sentences). Pure: no DOM.
const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const sub = (a, b) => a.map((x, i) => x - b[i]);
const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);

export function distances(a, b) {
  const d = norm(sub(a, b));
  const cos = dot(a, b) / (norm(a) * norm(b) || 1);
  // Rounding can push 1 − cos a hair below 0 for identical vectors.
  return { euclid: d, relative: d / (norm(a) || 1), cosine: Math.max(0, 1 - cos) };
}
