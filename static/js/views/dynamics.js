// Training dynamics, computed by the server from the stored snapshots and the metrics log:
// per-head attention entropy on the probe sentence (sharpening), the share of dead FFN units,
// and each weight matrix's update ratio. Each chart has one line saying what to look for.
import { FLOW, SERIES } from "../config.js";
import { state, subscribe } from "../state.js";
import { h } from "../util/dom.js";
import { num } from "../util/format.js";
import { plotlyLoaded, themeLayout } from "./loss_chart.js";

const HEAD_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
const MATRIX_COLOURS = { W_q: "#0072B2", W_k: "#56B4E9", W_v: "#009E73", W_o: "#E69F00", W_1: "#CC79A7", W_2: "#D55E00" };

function chartBox(id, title, caption) {
  const chart = h("div", { id, class: "dyn-chart", role: "img", "aria-label": title });
  const note = h("p", { class: "hint", id: `${id}-caption`, text: caption });
  return { chart, note, node: h("section", { class: "dyn" }, h("h4", { text: title }), note, chart) };
}

export function createDynamics(root, { onError }) {
  const entropy = chartBox("dyn-entropy", "Attention entropy per head, on the probe sentence",
    "Look for the lines falling below \"even attention\": a head that sharpens picks out particular earlier tokens.");
  const dead = chartBox("dyn-dead", "Dead FFN units",
    "Share of the FFN's hidden units that never fire (activation ≤ 0) on any probe token. A rising share means units the model has stopped using.");
  const ratio = chartBox("dyn-ratio", "Update ratio ‖ΔW‖ / ‖W‖ per matrix (log scale)",
    "How far each step moves each weight, relative to its size: large at first, then settling as learning slows.");
  const status = h("p", { class: "muted small", id: "dyn-status" });
  root.append(h("p", { class: "hint", text: "Measured over this session's training, from the snapshots (0, 1, 2, 4 … and " +
    "every k steps) and every logged step." }), status, entropy.node, dead.node, ratio.node);
  let ready = false;
  let data = null;

  const layout = (ytitle, extra = {}) => {
    const base = themeLayout();
    return { ...base, margin: { l: 52, r: 8, t: 6, b: 34 }, height: 210, showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 10 } },
      xaxis: { ...base.xaxis, title: { text: "step", standoff: 2 } },
      yaxis: { ...base.yaxis, title: { text: ytitle }, ...extra }, shapes: marker() };
  };
  const config = { displaylogo: false, displayModeBar: false, responsive: true };

  function marker() {
    return state.viewing === null ? [] : [{ type: "line", x0: state.viewing, x1: state.viewing, yref: "paper", y0: 0, y1: 1,
      line: { color: "#e69f00", width: 1.5, dash: "dot" } }];
  }

  function render() {
    if (!ready || !data) return;
    const e = data.entropy;
    const heads = e.heads.map((ys, k) => ({ x: e.steps, y: ys, name: `head ${k}`, mode: "lines+markers", type: "scatter",
      marker: { size: 4 }, line: { color: HEAD_COLOURS[k % HEAD_COLOURS.length], width: 1.6 } }));
    if (e.uniform !== null && e.steps.length) {
      heads.push({ x: [0, e.steps[e.steps.length - 1]], y: [e.uniform, e.uniform], name: `even attention ${num(e.uniform, 3)}`,
        mode: "lines", type: "scatter", line: { color: SERIES.bigram.color, dash: "dash", width: 1 }, hoverinfo: "skip" });
    }
    Plotly.react(entropy.chart, heads, layout("bits", { rangemode: "tozero" }), config);
    const d = data.dead_units;
    Plotly.react(dead.chart, [{ x: d.steps, y: d.share, name: `dead units (of ${d.units})`, mode: "lines+markers",
      type: "scatter", marker: { size: 4 }, line: { color: FLOW.update, width: 1.8 } }],
    layout("share of units", { range: [0, 1], tickformat: ".0%" }), config);
    const r = data.update_ratio;
    Plotly.react(ratio.chart, Object.entries(r.matrices).map(([name, ys]) => ({ x: r.steps, y: ys, name, mode: "lines",
      type: "scatter", line: { color: MATRIX_COLOURS[name], width: 1.3 } })), layout("ΔW/W", { type: "log" }), config);
    const last = e.steps.length ? e.steps[e.steps.length - 1] : 0;
    status.textContent = `${e.steps.length} snapshots up to step ${last}; ${r.steps.length} logged steps.`;
  }

  function show(d) {
    data = d;
    render();
  }

  plotlyLoaded().then(() => {
    ready = true;
    render();
  }).catch(onError);
  subscribe(["viewing"], () => {
    if (!ready || !data) return;
    for (const box of [entropy, dead, ratio]) Plotly.relayout(box.chart, { shapes: marker() });
  });
  return { show, get data() { return data; } };
}
