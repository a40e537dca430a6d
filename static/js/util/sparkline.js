// A tiny line chart in SVG: values over steps, optional log scale, latest value labelled.
import { s } from "./dom.js";
import { num } from "./format.js";

// format: how the latest value is written (e.g. updateRatio, which writes null as "new").
export function sparkline(svg, steps, values, { log = false, color = "currentColor", unit = "", format = num } = {}) {
  const W = 220;
  const H = 44;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const pts = [];
  for (let i = 0; i < values.length; i += 1) {
    const v = values[i];
    if (Number.isFinite(v) && (!log || v > 0)) pts.push([steps[i], log ? Math.log10(v) : v]);
  }
  if (pts.length < 2) {
    const text = pts.length ? `${format(values[values.length - 1])}${unit} at step ${steps[steps.length - 1]}` : "no steps yet";
    svg.append(s("text", { x: 4, y: H / 2, class: pts.length ? "spark-value" : "muted", "font-size": 11, text }));
    return;
  }
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const X = (x) => 2 + ((x - x0) / (x1 - x0 || 1)) * (W - 70);
  const Y = (y) => H - 4 - ((y - y0) / (y1 - y0 || 1)) * (H - 8);
  const d = pts.map(([x, y], i) => `${i ? "L" : "M"}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join("");
  const last = values[values.length - 1];
  svg.append(
    s("path", { d, fill: "none", stroke: color, "stroke-width": 1.5 }),
    s("text", { x: W - 64, y: 14, "font-size": 11, class: "spark-value", text: `${format(last)}${unit}` }),
    s("text", { x: W - 64, y: 30, "font-size": 9.5, class: "muted", text: `step ${xs[xs.length - 1]}` }),
    s("title", { text: `${pts.length} steps${log ? " (log scale)" : ""}; latest ${format(last)}${unit}` }),
  );
}

// Keeps the last `n` points of a series; returns a thinned copy for drawing.
export function thin(steps, values, n) {
  if (steps.length <= n) return [steps, values];
  const stride = Math.ceil(steps.length / n);
  const s2 = [];
  const v2 = [];
  for (let i = 0; i < steps.length; i += stride) {
    s2.push(steps[i]);
    v2.push(values[i]);
  }
  s2.push(steps[steps.length - 1]);
  v2.push(values[values.length - 1]);
  return [s2, v2];
}
