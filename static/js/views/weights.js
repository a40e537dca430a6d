// Inside a weight block: its heatmap (values, or change since step 0), histogram, summary
// numbers at the viewed step, and gradient-norm / update-ratio sparklines over all steps.
// Draws `state.weightData` ({step, live, entry: WeightOut, init: step-0 values | null}).
import { FLOW, LIMITS } from "../config.js";
import { blocksOf, matricesOf, state, subscribe } from "../state.js";
import { gradient, blueOrange } from "../util/color.js";
import { saveCanvas } from "../util/download.js";
import { clear, h, s, throttle } from "../util/dom.js";
import { num, shape, shortName, times, updateRatio } from "../util/format.js";
import { drawHeatmap } from "../util/heatmap.js";
import { sparkline, thin } from "../util/sparkline.js";
import { labelStep } from "../util/steps.js";
import { createGradcheckView } from "./gradcheck.js";

const isLinear = (name) => /\.W_\w+\.weight$/.test(name);
const transpose = (m) => (m.length ? m[0].map((_, j) => m.map((row) => row[j])) : m);
const subtract = (a, b) => a.map((row, i) => row.map((v, j) => v - ((b[i] || [])[j] ?? 0)));

// intents: {onSelectWeight(name), onMode(mode), onGradcheck(parameter, row, col)}
export function createWeightsView(root, intents) {
  const series = { steps: [], grad: {}, ratio: {} };
  const picker = h("div", { class: "seg", role: "group", "aria-label": "Weight block" });
  const all = h("select", { "aria-label": "Any parameter", id: "weight-select" });
  const title = h("h3", { class: "weight-title", id: "weight-title" });
  const canvas = h("canvas", { class: "heat", id: "weight-canvas", role: "img" });
  const legend = h("div", { class: "legend" });
  const hist = s("svg", { class: "hist", viewBox: "0 0 300 90", role: "img" });
  const stats = h("dl", { class: "stats", id: "weight-stats" });
  const gradSpark = s("svg", { class: "spark", role: "img", "aria-label": "gradient norm over steps" });
  const ratioSpark = s("svg", { class: "spark", role: "img", "aria-label": "update ratio over steps" });
  const modeSeg = h("div", { class: "seg", role: "radiogroup", "aria-label": "Heatmap shows" },
    ...[["now", "values"], ["change", "change since step 0"]].map(([m, label]) =>
      h("button", { type: "button", role: "radio", "data-mode": m, text: label, onclick: () => intents.onMode(m) })));
  const pngBtn = h("button", { type: "button", class: "small", text: "PNG",
    title: "Download this heatmap as PNG", onclick: () => saveCanvas(canvas, `attnflow-${shortName(state.selectedWeight)}.png`) });
  root.append(
    h("div", { class: "row" }, picker, all),
    h("div", { class: "row spread" }, title, pngBtn),
    h("div", { class: "weights-grid" },
      h("div", { class: "heat-box" }, modeSeg, canvas, legend),
      h("div", {}, h("h4", { text: "Histogram of all values" }), hist, stats,
        h("h4", { text: "Gradient norm ‖g‖ per step" }), gradSpark,
        h("h4", { text: "Update ratio ‖ΔW‖ / ‖W‖ per step (log scale)" }), ratioSpark)),
  );
  all.addEventListener("change", () => intents.onSelectWeight(all.value));
  createGradcheckView(root.appendChild(h("section", { class: "gradcheck", "aria-label": "Gradient check" })), intents);

  function buildPicker() {
    clear(picker);
    clear(all);
    const shapes = state.session.shapes || {};
    const names = Object.keys(shapes);
    const blocks = blocksOf();
    // One button per weight matrix of each block; "W_q·2" is block 2's when there are several.
    for (const { name, short, block } of matricesOf()) {
      const text = blocks.length > 1 ? `${short}·${block.index + 1}` : short;
      picker.append(h("button", { type: "button", "data-param": name, text, title: `${short} of ${block.label}`,
        onclick: () => intents.onSelectWeight(name) }));
    }
    for (const n of names) all.append(h("option", { value: n, text: `${n} ${shape(state.session.shapes[n])}` }));
  }

  function render() {
    const name = state.selectedWeight;
    for (const b of picker.children) b.setAttribute("aria-pressed", String(b.dataset.param === name));
    for (const b of modeSeg.children) b.setAttribute("aria-checked", String(b.dataset.mode === state.weightMode));
    if (name) all.value = name;
    const d = state.weightData;
    if (!d || d.entry.name !== name) return;
    const w = d.entry;
    const change = state.weightMode === "change" && d.init;
    const values = change ? subtract(w.values, d.init) : w.values;
    const size = w.downsampled ? `, shown at ${times([values.length, values[0].length])}` : "";
    showMatrix(name, values, w.shape, d.step, `${d.live ? "" : "stored "}step`, size);
    showStats(w);
  }

  function showMatrix(name, values, stored, step, what, size) {
    const linear = isLinear(name);
    const m = linear ? transpose(values) : values;
    const dims = linear ? [stored[1], stored[0]] : stored;
    const head = `${shortName(name)} · ${linear ? `math ${times(dims)}, stored (out, in) ${shape(stored)}` : shape(stored)}`;
    labelStep(title, step, (k) => `${head} · ${what} ${k}${size}`);
    const [rowName, colName] = linear ? ["in", "out"] : ["row", "col"];
    const [lo, hi] = drawHeatmap(canvas, m, { diverging: true, rowLabel: (i) => `${rowName} ≈${Math.round((i * (dims[0] || 1)) / (m.length || 1))}`,
      colLabel: (j) => `${colName} ≈${Math.round((j * (dims[dims.length - 1] || 1)) / ((m[0] || []).length || 1))}` }) || [0, 0];
    canvas.setAttribute("aria-label", `Heatmap of ${shortName(name)}, ${state.weightMode === "change" ? "change since step 0" : "values"}`);
    // Keep the matrix's true proportions inside a square box (rows / columns).
    const aspect = Math.min(Math.max((dims[0] || 1) / (dims[dims.length - 1] || 1), 0.25), 4);
    const box = Math.min(canvas.parentElement.clientWidth || 300, 300);
    canvas.style.width = `${aspect > 1 ? box / aspect : box}px`;
    canvas.style.height = `${aspect > 1 ? box : box * aspect}px`;
    legend.replaceChildren(h("span", { text: num(lo, 2) }),
      h("span", { class: "bar", style: `background:${gradient(blueOrange, true)}` }), h("span", { text: num(hi, 2) }),
      h("span", { text: linear ? ` · rows: input (${dims[0]}) ↓, columns: output (${dims[1]}) →` : "" }));
  }

  function showStats(w) {
    const { edges, counts } = w.histogram;
    const max = Math.max(...counts, 1);
    const bw = 300 / counts.length;
    clear(hist).append(...counts.map((c, i) => s("rect", { x: i * bw, y: 80 - (70 * c) / max, width: Math.max(bw - 1, 1),
      height: (70 * c) / max, class: "bar" }, s("title", { text: `${num(edges[i], 3)} … ${num(edges[i + 1], 3)}: ${c} values` }))),
      s("text", { x: 0, y: 90, class: "tiny", text: num(edges[0], 2) }),
      s("text", { x: 300, y: 90, class: "tiny", "text-anchor": "end", text: num(edges[edges.length - 1], 2) }));
    const rows = [["mean", num(w.mean)], ["std", num(w.std)], ["‖W‖", num(w.norm)],
      // Relative to ‖W₀‖, except for parameters that start at zero (biases), where it is absolute.
      ["change since step 0", w.name.endsWith(".bias") ? `‖W − W₀‖ = ${num(w.change_from_init)}`
        : `${num(100 * w.change_from_init, 3)} % of ‖W₀‖`]];
    clear(stats).append(...rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
  }

  function drawSparks() {
    const name = state.selectedWeight;
    if (!name) return;
    const [s1, g] = thin(series.steps, series.grad[name] || [], LIMITS.sparkPoints);
    const [s2, r] = thin(series.steps, series.ratio[name] || [], LIMITS.sparkPoints);
    sparkline(gradSpark, s1, g, { color: FLOW.backward });
    sparkline(ratioSpark, s2, r, { log: true, color: FLOW.update, format: updateRatio });
  }
  const drawSparksLater = throttle(() => state.tab === "weights" && drawSparks(), 500);

  function setHistory(hist) {
    series.steps = hist.train.steps.slice();
    series.grad = Object.fromEntries(Object.entries(hist.grad_norms || {}).map(([k, v]) => [k, v.slice()]));
    series.ratio = Object.fromEntries(Object.entries(hist.update_ratios || {}).map(([k, v]) => [k, v.slice()]));
    drawSparks();
  }

  function addRecord(rec) {
    series.steps.push(rec.step);
    for (const [k, v] of Object.entries(rec.grad_norms || {})) (series.grad[k] ||= []).push(v);
    for (const [k, v] of Object.entries(rec.update_ratios || {})) (series.ratio[k] ||= []).push(v);
    drawSparksLater();
  }

  subscribe(["session"], () => state.session && buildPicker());
  subscribe(["weightData", "weightMode"], render);
  subscribe(["selectedWeight"], () => {
    render();
    drawSparks();
  });
  subscribe(["tab"], () => state.tab === "weights" && drawSparks());
  return { setHistory, addRecord, render, drawSparks };
}
