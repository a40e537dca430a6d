// Training dynamics, computed by the server from the stored snapshots and the metrics log: per
// block, each head's attention entropy on the probe sentence (sharpening) and the share of dead
// FFN units, and each weight matrix's update ratio. Each chart has one line saying what to look for.
import { DYNAMICS, SERIES } from "../config.js";
import { blocksOf, matricesOf, state, subscribe } from "../state.js";
import { clear, h } from "../util/dom.js";
import { num } from "../util/format.js";
import { plotlyLoaded, themeLayout } from "./loss_chart.js";

const ENTROPY_CAPTION = "Look for the lines falling below \"even attention\": a head that sharpens picks out particular earlier tokens.";
const LATER_CAPTION = (label, before) => `${label[0].toUpperCase()}${label.slice(1)} attends over ${before}'s output, not the words themselves: ` +
  "look for its heads falling below \"even attention\" too, and whether they sharpen sooner or later than the block before.";

function chartBox(id, title, caption) {
  const chart = h("div", { id, class: "dyn-chart", role: "img", "aria-label": title });
  const note = h("p", { class: "hint", id: `${id}-caption`, text: caption });
  return { chart, note, node: h("section", { class: "dyn" }, h("h4", { text: title }), note, chart) };
}

// A block of the payload as the page names it (state.names), the server's label as a fallback.
const labelOf = (block) => (blocksOf().find((b) => b.name === block.name) || block).label;

// The block (from state.names) and short matrix name of a parameter, e.g. "blocks.1.attn.W_q.weight".
function matrixOf(parameter) {
  return matricesOf().find((m) => m.name === parameter) || { block: null, short: parameter };
}

export function createDynamics(root, { onError }) {
  const entropyHost = h("div", { id: "dyn-entropy-blocks" });
  const DEAD_CAPTION = "Share of the FFN's hidden units that never fire (activation ≤ 0) on any probe token. " +
    "A rising share means units the model has stopped using.";
  const dead = chartBox("dyn-dead", "Dead FFN units", DEAD_CAPTION);
  const ratio = chartBox("dyn-ratio", "Update ratio ‖ΔW‖ / ‖W‖ per matrix (log scale)",
    "How far each step moves each weight, relative to its size: large at first, then settling as learning slows.");
  const status = h("p", { class: "muted small", id: "dyn-status" });
  root.append(h("p", { class: "hint", text: "Measured over this session's training, from the snapshots (0, 1, 2, 4 … and " +
    "every k steps) and every logged step." }), status, entropyHost, dead.node, ratio.node);
  let entropy = []; // one chart box per block, block 0 first
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

  // One entropy chart per block, made again only when the number or names of the blocks change.
  function entropyBoxes(blocks) {
    const key = blocks.map(labelOf).join("|");
    if (entropyHost.dataset.blocks === key) return;
    entropy.forEach((box) => Plotly.purge(box.chart));
    entropy = blocks.map((block, i) => {
      const label = labelOf(block);
      const caption = i === 0 ? ENTROPY_CAPTION : LATER_CAPTION(label, labelOf(blocks[i - 1]));
      const title = blocks.length > 1 ? `Attention entropy per head in ${label}, on the probe sentence`
        : "Attention entropy per head, on the probe sentence";
      return chartBox(`dyn-entropy-${block.index}`, title, caption);
    });
    entropy.forEach((box, i) => { box.chart.dataset.block = blocks[i].name; });
    clear(entropyHost).append(...entropy.map((box) => box.node));
    entropyHost.dataset.blocks = key;
  }

  function entropyTraces(e) {
    const heads = e.heads.map((ys, k) => ({ x: e.steps, y: ys, name: `head ${k}`, mode: "lines+markers", type: "scatter",
      marker: { size: 4 }, line: { color: DYNAMICS.heads[k % DYNAMICS.heads.length], width: 1.6 } }));
    if (e.uniform !== null && e.steps.length) {
      heads.push({ x: [0, e.steps[e.steps.length - 1]], y: [e.uniform, e.uniform], name: `even attention ${num(e.uniform, 3)}`,
        mode: "lines", type: "scatter", line: { color: SERIES.bigram.color, dash: "dash", width: 1 }, hoverinfo: "skip" });
    }
    return heads;
  }

  function deadTraces(blocks) {
    const several = blocks.length > 1;
    return blocks.map(({ dead_units: d, ...block }, i) => ({ x: d.steps, y: d.share, mode: "lines+markers", type: "scatter",
      name: several ? `${labelOf(block)} (of ${d.units})` : `dead units (of ${d.units})`, marker: { size: 4 },
      line: { color: DYNAMICS.blockColours[i % DYNAMICS.blockColours.length], width: 1.8 } }));
  }

  function ratioTraces(r, several) {
    return Object.entries(r.matrices).map(([key, ys]) => {
      const { block, short } = matrixOf(r.parameters[key]);
      const i = block ? block.index : 0;
      return { x: r.steps, y: ys, name: several && block ? `${short} · ${block.label}` : short, mode: "lines", type: "scatter",
        legendgroup: block ? block.name : key,
        line: { color: DYNAMICS.matrices[short], width: 1.3, dash: DYNAMICS.blockDashes[i % DYNAMICS.blockDashes.length] } };
    });
  }

  function render() {
    if (!ready || !data) return;
    entropyBoxes(data.blocks);
    data.blocks.forEach((block, i) =>
      Plotly.react(entropy[i].chart, entropyTraces(block.entropy), layout("bits", { rangemode: "tozero" }), config));
    dead.note.textContent = DEAD_CAPTION + (data.blocks.length > 1 ? " One line per block: each has its own FFN." : "");
    Plotly.react(dead.chart, deadTraces(data.blocks), layout("share of units", { range: [0, 1], tickformat: ".0%" }), config);
    Plotly.react(ratio.chart, ratioTraces(data.update_ratio, data.blocks.length > 1), layout("ΔW/W", { type: "log" }), config);
    const steps = data.entropy.steps;
    const last = steps.length ? steps[steps.length - 1] : 0;
    const blocks = data.blocks.length > 1 ? ` ${data.blocks.length} blocks;` : "";
    status.textContent = `${steps.length} snapshots up to step ${last};${blocks} ${data.update_ratio.steps.length} logged steps.`;
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
    for (const box of [...entropy, dead, ratio]) Plotly.relayout(box.chart, { shapes: marker() });
  });
  return { show, get data() { return data; } };
}
