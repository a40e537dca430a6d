// The live loss curve (Plotly): newPlot once, then extendTraces with a point cap. New points are
// buffered and flushed at most every TIMING.chartFlushMs. Each extendTraces redraws the whole chart,
// so the chart is kept light: long runs are averaged into doubling bins (a few hundred points per
// doubling of the run), no mode bar. (The comparison of three models has its own figure.)
import { LIMITS, SERIES, TIMING } from "../config.js";
import { cssVar } from "../util/dom.js";
import { num } from "../util/format.js";
import { overfitting } from "../overfit.js";

const TRAIN = 0;
const HELDOUT = 1;
const MARKERS_UNTIL = 40; // the training curve shows markers while it has few points

function trace(key, mode = "lines", extra = {}) {
  const st = SERIES[key];
  const binnedNote = key === "train" ? ` (past step ${LIMITS.denseSteps}: mean of nearby steps)` : "";
  return { x: [], y: [], name: st.label, mode, type: "scatter",
    line: { color: st.color, dash: st.dash, width: key === "train" ? 1.4 : 2 },
    hovertemplate: `${st.label}<br>step %{x:.0f}<br>%{y:.4f} nats<extra>${binnedNote}</extra>`, ...extra };
}

export function themeLayout() {
  const fg = cssVar("--fg") || "#222";
  const grid = cssVar("--grid") || "#ddd";
  return {
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: fg, size: 11, family: cssVar("--font") || "system-ui, sans-serif" },
    xaxis: { title: { text: "step", standoff: 4 }, gridcolor: grid, zerolinecolor: grid, rangemode: "tozero" },
    yaxis: { title: { text: "loss (nats / token)" }, gridcolor: grid, zerolinecolor: grid, rangemode: "tozero" },
  };
}

// Resolves once the async <script id="plotly-js"> has run.
export function plotlyLoaded() {
  return new Promise((resolve, reject) => {
    if (window.Plotly) return resolve();
    const tag = document.getElementById("plotly-js");
    if (!tag) return reject(new Error("The page has no chart library script."));
    tag.addEventListener("load", () => resolve());
    tag.addEventListener("error", () => reject(new Error("The chart library (/static/vendor/plotly.min.js) did not load.")));
  });
}

// Steps per point of the training curve at `step`: 1 up to LIMITS.denseSteps, then 2, 4, 8 …
function binSize(step) {
  return 2 ** Math.max(0, Math.ceil(Math.log2(step / LIMITS.denseSteps)));
}

// Averages steps into bins of binSize; calls emit(meanStep, meanLoss) as each bin fills, or as a
// later step shows that a bin will not fill (steps skipped by the stream, a thinned history).
function binner(emit) {
  let bin = null;
  return (step, loss) => {
    const size = binSize(step);
    const index = Math.floor((step - 1) / size);
    if (bin && (bin.size !== size || bin.index !== index)) {
      emit(bin.x / bin.n, bin.y / bin.n);
      bin = null;
    }
    if (!bin) bin = { size, index, x: 0, y: 0, n: 0 };
    bin.x += step;
    bin.y += loss;
    bin.n += 1;
    if (step === (index + 1) * size) {
      emit(bin.x / bin.n, bin.y / bin.n);
      bin = null;
    }
  };
}

// A whole series binned the same way (history after load or reset).
function binned(steps, losses) {
  const xs = [];
  const ys = [];
  const add = binner((x, y) => {
    xs.push(x);
    ys.push(y);
  });
  steps.forEach((step, i) => {
    if (Number.isFinite(losses[i])) add(step, losses[i]);
  });
  return [xs, ys];
}

// note: an element for the overfitting note (shown when held-out loss has clearly risen).
export function createLossChart(el, onError, note = null) {
  const held = { steps: [], loss: [] };
  function checkOverfit() {
    if (!note) return;
    const o = overfitting(held.steps, held.loss);
    note.hidden = !o;
    if (o) {
      note.textContent = `Overfitting: held-out loss has risen ${num(o.rise, 2)} nats since its minimum ` +
        `(${num(o.min, 3)} at step ${o.minStep}) while training loss goes on falling. The model is starting to ` +
        "memorise its training text instead of learning what carries over to new text.";
    }
  }
  const queue = [];
  let ready = false;
  let timer = null;
  let lastFlush = -Infinity;
  let markers = true;
  const later = (fn) => (ready ? fn() : queue.push(fn));
  const buffers = new Map(); // trace index -> [xs, ys]
  let addBinned = binner((x, y) => push(TRAIN, x, y));

  function init() {
    const layout = { ...themeLayout(), margin: { l: 52, r: 10, t: 26, b: 36 },
      legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom", font: { size: 10.5 } },
      showlegend: true, shapes: [], uirevision: "keep" };
    const traces = [trace("train", "lines+markers", { marker: { size: 4 } }),
      trace("heldout", "lines+markers", { marker: { size: 5 } })];
    Plotly.newPlot(el, traces, layout, { displaylogo: false, displayModeBar: false, responsive: false });
    ready = true;
    let pending = false; // Plotly sizes itself once; follow the panel as the layout settles.
    new ResizeObserver(() => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        Plotly.Plots.resize(el);
      });
    }).observe(el);
    for (const fn of queue.splice(0)) fn();
    flush();
  }

  function push(index, x, y) {
    if (!buffers.has(index)) buffers.set(index, [[], []]);
    const [xs, ys] = buffers.get(index);
    xs.push(x);
    ys.push(y);
    // At most one redraw per TIMING.chartFlushMs; the first point after a quiet spell shows at once.
    if (!timer) timer = setTimeout(flush, Math.max(0, lastFlush + TIMING.chartFlushMs - performance.now()));
  }

  function flush() {
    clearTimeout(timer);
    timer = null;
    if (!ready || !buffers.size) return;
    lastFlush = performance.now();
    const idx = [...buffers.keys()].filter((i) => i < el.data.length);
    const xs = idx.map((i) => buffers.get(i)[0]);
    const ys = idx.map((i) => buffers.get(i)[1]);
    buffers.clear();
    if (!idx.length) return;
    try {
      Plotly.extendTraces(el, { x: xs, y: ys }, idx, LIMITS.maxPoints);
      if (markers && el.data[TRAIN].x.length > MARKERS_UNTIL) {
        markers = false;
        Plotly.restyle(el, { mode: "lines" }, [TRAIN]);
      }
    } catch (err) {
      onError(err);
    }
  }

  // Replace everything with a History (after load, reset or a new session).
  function reset(history) {
    held.steps = history.heldout.steps.slice();
    held.loss = history.heldout.loss.slice();
    checkOverfit();
    buffers.clear();
    queue.length = 0;
    addBinned = binner((x, y) => push(TRAIN, x, y));
    later(() => {
      const [xs, ys] = binned(history.train.steps, history.train.loss);
      markers = xs.length <= MARKERS_UNTIL;
      Plotly.restyle(el, { x: [xs, history.heldout.steps], y: [ys, history.heldout.loss],
        mode: [markers ? "lines+markers" : "lines", "lines+markers"] }, [TRAIN, HELDOUT]);
    });
  }

  const addTrain = (step, loss) => addBinned(step, loss);

  function addHeldout(step, loss) {
    held.steps.push(step);
    held.loss.push(loss);
    checkOverfit();
    push(HELDOUT, step, loss);
  }

  // Vertical marker for the history scrubber; null removes it.
  function setMarker(step) {
    if (!ready) return later(() => setMarker(step));
    const shapes = step === null ? [] : [{ type: "line", x0: step, x1: step, yref: "paper", y0: 0, y1: 1,
      line: { color: cssVar("--focus") || "#555", width: 1.5, dash: "dot" } }];
    Plotly.relayout(el, { shapes });
  }

  function retheme() {
    if (ready) Plotly.relayout(el, themeLayout());
  }

  function png() {
    if (!ready) return null;
    return Plotly.downloadImage(el, { format: "png", filename: "attnflow-loss", width: 1000, height: 500 });
  }

  // Other runs side by side (views/runs.js): traces after the live two, replaced as a set.
  function setRuns(traces) {
    if (!ready) return later(() => setRuns(traces));
    const extra = [...el.data.keys()].slice(HELDOUT + 1);
    if (extra.length) Plotly.deleteTraces(el, extra);
    if (traces.length) Plotly.addTraces(el, traces);
  }

  const whenReady = plotlyLoaded().then(init).catch(onError);
  return { whenReady, reset, addTrain, addHeldout, setMarker, retheme, png, flush, setRuns };
}
