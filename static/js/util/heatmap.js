// Draws a 2-D matrix onto a canvas, one pixel per cell, scaled up by CSS (image-rendering: pixelated).
import { blueOrange, viridis } from "./color.js";
import { hideTip, showTip } from "./tooltip.js";

// opts: {diverging: bool, range: [lo, hi] | null, rowLabel(i), colLabel(j), unit}
export function drawHeatmap(canvas, matrix, opts = {}) {
  const rows = matrix.length;
  const cols = rows ? matrix[0].length : 0;
  canvas.width = Math.max(cols, 1);
  canvas.height = Math.max(rows, 1);
  const ctx = canvas.getContext("2d");
  if (!rows || !cols) return ctx.clearRect(0, 0, 1, 1);
  const [lo, hi] = opts.range || extent(matrix, opts.diverging);
  const img = ctx.createImageData(cols, rows);
  for (let i = 0; i < rows; i += 1) {
    for (let j = 0; j < cols; j += 1) {
      const v = matrix[i][j];
      const rgb = opts.diverging ? blueOrange(v / (hi || 1)) : viridis((v - lo) / (hi - lo || 1));
      const k = (i * cols + j) * 4;
      img.data[k] = rgb[0];
      img.data[k + 1] = rgb[1];
      img.data[k + 2] = rgb[2];
      img.data[k + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  canvas._heat = { matrix, opts, range: [lo, hi] };
  bindHover(canvas);
  return [lo, hi];
}

// Sequential: [min, max]; diverging: symmetric [-m, m].
function extent(matrix, diverging = false) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of matrix) {
    for (const v of row) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (diverging) {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    return [-m, m];
  }
  return [lo, hi === lo ? lo + 1 : hi];
}

function bindHover(canvas) {
  if (canvas._hoverBound) return;
  canvas._hoverBound = true;
  canvas.addEventListener("mousemove", (event) => {
    const heat = canvas._heat;
    if (!heat) return;
    const r = canvas.getBoundingClientRect();
    const j = Math.floor(((event.clientX - r.left) / r.width) * canvas.width);
    const i = Math.floor(((event.clientY - r.top) / r.height) * canvas.height);
    const row = heat.matrix[i];
    if (!row || row[j] === undefined) return hideTip();
    const rl = heat.opts.rowLabel ? heat.opts.rowLabel(i) : `row ${i}`;
    const cl = heat.opts.colLabel ? heat.opts.colLabel(j) : `col ${j}`;
    showTip(event, `${rl}, ${cl}: ${row[j].toPrecision(3)}${heat.opts.unit || ""}`);
  });
  canvas.addEventListener("mouseleave", hideTip);
}
