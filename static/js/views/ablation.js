// The measured claim as its own figure: three models (attention + FFN, attention only, FFN only)
// trained with the same seed and data, their held-out losses on their own 0 … steps axis, zoomed
// on where they end, the bigram bound, the final losses as bars and one sentence of verdict.
// It starts only when the learner asks (onRun), shows progress while it runs, exports PNG and CSV.
import { DEFAULTS, SERIES } from "../config.js";
import { csv, verdict, yRange } from "../ablation_math.js";
import { state, subscribe } from "../state.js";
import { saveText } from "../util/download.js";
import { h } from "../util/dom.js";
import { num } from "../util/format.js";
import { plotlyLoaded, themeLayout } from "./loss_chart.js";

// The three models in the order they run and are drawn ([{role, name}], from the shared names):
// model k has held-out curve k (0..2) and live training curve 3 + k (3..5).
const models = () => Object.entries(state.names.variants).map(([role, name]) => ({ role, name }));
const TRAIN = 3;
const BOUND = 6;

// Resolves once the shared names are in the state (the traces are made from them).
const namesLoaded = () => new Promise((resolve) => {
  if (state.names) return resolve();
  const off = subscribe(["names"], () => {
    off();
    resolve();
  });
});

// intents: {onRun(steps, corpus)}
export function createAblation(root, { onRun, onError }) {
  let ready = false;
  const steps = h("input", { type: "number", id: "abl-steps", min: 1, value: DEFAULTS.compareSteps, "aria-label": "Steps per model" });
  const corpus = h("select", { id: "abl-corpus", "aria-label": "Corpus" });
  const run = h("button", { type: "button", id: "abl-run", class: "primary", text: "Run the comparison",
    onclick: () => onRun(Number(steps.value), corpus.value) });
  const note = h("p", { class: "hint", id: "abl-note" });
  const progress = h("progress", { id: "abl-progress", max: 1, hidden: true });
  const chart = h("div", { id: "ablation-chart", class: "ablation-chart", role: "img",
    "aria-label": "Held-out loss of the three models over their training steps" });
  const bars = h("div", { id: "abl-bars", class: "abl-bars" });
  const said = h("p", { id: "abl-verdict", class: "verdict" });
  const png = h("button", { type: "button", class: "small", text: "PNG", disabled: true,
    onclick: () => Plotly.downloadImage(chart, { format: "png", filename: "attnflow-comparison", width: 900, height: 450 }) });
  const csvBtn = h("button", { type: "button", class: "small", text: "CSV", disabled: true,
    onclick: () => state.comparison && saveText(csv(state.comparison, state.names.variants), "attnflow-comparison.csv") });
  root.append(
    h("h3", { text: "Measured: does each part need the other?" }),
    h("p", { class: "hint", text: "Three fresh models train on the same text with the same seed: attention + FFN, " +
      "attention only and FFN only. Lower held-out loss (on text none of them trained on) is better. " +
      "The bigram bound is the best any model can do seeing only the previous word." }),
    h("div", { class: "row" }, h("label", { for: "abl-steps", text: "Steps" }), steps,
      h("label", { for: "abl-corpus", text: "on" }), corpus, run, progress, png, csvBtn),
    note, said, bars, chart);

  function fillCorpora() {
    const list = state.corpora ? state.corpora.corpora : [];
    corpus.replaceChildren(...list.map((c) => h("option", { value: c.name, text: c.title || c.name, title: c.description })));
    corpus.value = list.some((c) => c.name === DEFAULTS.compareCorpus) ? DEFAULTS.compareCorpus : (list[0] || {}).name;
  }

  function traces() {
    const held = models().map(({ role }) => ({ x: [], y: [], name: SERIES[role].label, mode: "lines+markers", type: "scatter",
      line: { color: SERIES[role].color, dash: SERIES[role].dash, width: 2.2 }, marker: { size: 4 },
      hovertemplate: `${SERIES[role].label}<br>step %{x:.0f}<br>held-out %{y:.4f} nats<extra></extra>` }));
    const train = models().map(({ role }) => ({ x: [], y: [], name: `${SERIES[role].label} (training)`, mode: "lines",
      type: "scatter", showlegend: false, opacity: 0.3, line: { color: SERIES[role].color, width: 1 }, hoverinfo: "skip" }));
    const bound = { x: [], y: [], name: SERIES.bigram.label, mode: "lines", type: "scatter",
      line: { color: SERIES.bigram.color, dash: "dash", width: 1.5 }, hoverinfo: "skip" };
    return [...held, ...train, bound];
  }

  async function init() {
    await plotlyLoaded();
    const base = themeLayout();
    Plotly.newPlot(chart, traces(), { ...base, margin: { l: 52, r: 10, t: 8, b: 36 }, showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: { size: 10.5 } },
      xaxis: { ...base.xaxis, title: { text: "training step of each model", standoff: 4 } },
      yaxis: { ...base.yaxis, title: { text: "held-out loss (nats / token)" }, rangemode: "normal" } },
    { displaylogo: false, displayModeBar: false, responsive: true });
    ready = true;
    if (state.comparison) show(state.comparison);
  }

  // Live progress: each variant's training loss as it comes (from the stream).
  function progressPoint(variant, step, loss, total) {
    const k = ready ? models().findIndex((m) => m.name === variant) : -1;
    if (k < 0) return;
    Plotly.extendTraces(chart, { x: [[step]], y: [[loss]] }, [TRAIN + k], 5000);
    progress.hidden = false;
    if (total) progress.value = (k * total + step) / (3 * total);
    note.textContent = `Training ${SERIES[models()[k].role].label}: step ${step}${total ? ` of ${total}` : ""} (model ${k + 1} of 3).`;
  }

  function start(total) {
    if (!ready) return;
    const empty = () => [[], [], [], [], [], [], []]; // three held-out, three training, the bound
    Plotly.restyle(chart, { x: empty(), y: empty() }, [0, 1, 2, 3, 4, 5, 6]);
    Plotly.relayout(chart, { "xaxis.range": [0, total], "yaxis.autorange": true });
    said.textContent = "";
    bars.replaceChildren();
  }

  function show(result) {
    progress.hidden = true;
    steps.value = String(result.steps);
    png.disabled = false;
    csvBtn.disabled = false;
    if (!ready) return;
    const x = [];
    const y = [];
    for (const { name } of models()) {
      const r = result.variants[name];
      const last = r.steps.length ? r.steps[r.steps.length - 1] : result.steps;
      const ends = r.eval_steps.length && r.eval_steps[r.eval_steps.length - 1] === last;
      x.push(ends ? r.eval_steps : r.eval_steps.concat([last]));
      y.push(ends ? r.heldout_loss : r.heldout_loss.concat([r.final_heldout_loss]));
    }
    const train = models().map(({ name }) => result.variants[name]);
    const on = result.corpus ? ` on ${result.corpus}` : "";
    const names = models().map(({ role, name }) =>
      `${SERIES[role].label}${on}: held-out ${num(result.variants[name].final_heldout_loss, 3)}`);
    Plotly.restyle(chart, { x: [...x, ...train.map((r) => r.steps)], y: [...y, ...train.map((r) => r.train_loss)] }, [0, 1, 2, 3, 4, 5]);
    Plotly.restyle(chart, { name: names }, [0, 1, 2]);
    const bound = result.bigram_bound;
    if (Number.isFinite(bound)) Plotly.restyle(chart, { x: [[0, result.steps]], y: [[bound, bound]], name: `bigram bound ${num(bound, 3)}` }, [BOUND]);
    const range = yRange(result, state.names.variants);
    Plotly.relayout(chart, { "xaxis.range": [0, result.steps], "yaxis.range": range, "yaxis.autorange": false });
    const v = verdict(result, state.names.variants);
    said.textContent = v.text;
    said.dataset.dAtt = String(v.dAtt);
    said.dataset.dFfn = String(v.dFfn);
    note.textContent = `On "${result.corpus || "this corpus"}", ${result.steps} steps each. The y-axis is zoomed on the final ` +
      "losses: every curve starts near 4.4 nats, above the top of the figure.";
    renderBars(v.finals, bound, range);
  }

  function renderBars(finals, bound, [lo, hi]) {
    const rows = models().map(({ role, name }) => [SERIES[role].label, finals[role], SERIES[role].color, name]);
    if (Number.isFinite(bound)) rows.push(["bigram bound", bound, SERIES.bigram.color, "bigram"]);
    bars.replaceChildren(...rows.map(([label, value, color, key]) => h("div", { class: "abl-bar", "data-variant": key,
      "data-value": String(value) },
      h("span", { class: "abl-label", text: label }),
      h("span", { class: "abl-track" }, h("span", { class: "abl-fill",
        style: `width:${(100 * Math.min(Math.max((value - lo) / (hi - lo), 0.02), 1)).toFixed(1)}%;background:${color}` })),
      h("span", { class: "abl-num", text: `${num(value, 3)} nats` }))));
  }

  Promise.all([plotlyLoaded(), namesLoaded()]).then(init).catch(onError);
  subscribe(["corpora"], fillCorpora);
  subscribe(["comparison"], () => state.comparison && show(state.comparison));
  subscribe(["comparing"], () => {
    run.disabled = state.comparing;
    run.textContent = state.comparing ? "Running…" : "Run the comparison";
  });
  return { start, progressPoint, show, get ready() { return ready; } };
}
