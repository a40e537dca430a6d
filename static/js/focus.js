// Which token of a sentence to show first: the one whose averaged attention is most focused.
// Pure: no DOM.

// Entropy of a probability row, in bits.
export function entropyBits(row) {
  return -row.reduce((sum, p) => (p > 0 ? sum + p * Math.log2(p) : sum), 0);
}

export function averageHeads(att, i) {
  const H = att.length;
  return att[0][i].map((_, j) => att.reduce((sum, head) => sum + head[i][j], 0) / H);
}

// attention [H][T][T] -> the position (≥ 1) whose head-averaged row has the lowest entropy
// relative to even attention over its i + 1 tokens; null without attention or with one token.
export function mostFocused(attention) {
  if (!attention || !attention.length) return null;
  const T = attention[0].length;
  let best = null;
  let bestScore = Infinity;
  for (let i = 1; i < T; i += 1) {
    const score = entropyBits(averageHeads(attention, i).slice(0, i + 1)) / Math.log2(i + 1);
    if (score < bestScore - 1e-9) {
      best = i;
      bestScore = score;
    }
  }
  return best;
}
