// Runs side by side: other runs' training loss on the loss chart, each named by its settings
// ("lr 0.03 · norm pre · d_model 64"), removable, exportable as CSV (and the chart as PNG).
import { RUNS } from "../config.js";
import { state, subscribe } from "../state.js";
import { h } from "../util/dom.js";
import { saveText } from "../util/download.js";

const get = (obj, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
const NAMES = { "optimizer.lr": "lr", "config.norm": "norm", "optimizer.batch_size": "batch", "optimizer.weight_decay": "wd" };
const short = (path) => NAMES[path] || path.split(".").pop();

// A run's settings in words: always lr, norm and d_model; the rest where it differs from `main`.
export function describeRun(info, main) {
  const paths = [...RUNS.always, ...RUNS.ifDifferent.filter((p) => main && get(info, p) !== get(main, p))];
  return paths.map((p) => `${short(p)} ${get(info, p)}`).join(" · ");
}

function runTrace(run, index) {
  const label = describeRun(run.info, state.session);
  return { x: run.steps, y: run.loss, name: label, mode: "lines", type: "scatter",
    line: { color: RUNS.colors[index % RUNS.colors.length], width: 1.4 },
    hovertemplate: `${label}<br>step %{x:.0f}<br>%{y:.4f} nats<extra></extra>` };
}

function csvOf(runs) {
  const quote = (s) => `"${String(s).replaceAll('"', '""')}"`;
  const lines = ["run,settings,step,loss"];
  runs.forEach((run, i) => {
    const label = quote(describeRun(run.info, state.session));
    run.steps.forEach((step, j) => lines.push(`${i + 1},${label},${step},${run.loss[j]}`));
  });
  return lines.join("\n") + "\n";
}

// chart: the loss chart ({setRuns, png}); intents: {onAddRun, onRemoveRun, onRefreshRuns, knownRuns}
export function createRunsView(root, chart, intents) {
  const pick = h("select", { id: "runs-pick", "aria-label": "One of your sessions" });
  const paste = h("input", { type: "text", id: "runs-paste", placeholder: "or paste a watch link", "aria-label": "Watch link of another run" });
  const add = h("button", { type: "button", id: "runs-add", class: "small", text: "Add run" });
  const refresh = h("button", { type: "button", id: "runs-refresh", class: "small", text: "↻", title: "Fetch the runs' curves again" });
  const csv = h("button", { type: "button", id: "runs-csv", class: "small", text: "CSV", title: "The runs' curves as CSV" });
  const png = h("button", { type: "button", id: "runs-png", class: "small", text: "PNG", title: "The chart with every run" });
  const self = h("p", { id: "runs-self", class: "muted small" });
  const list = h("ul", { id: "runs-list", class: "runs-list" });
  root.append(h("div", { class: "runs-row" }, h("span", { class: "small", text: "Side by side:" }), pick, paste, add,
    refresh, csv, png), self, list);

  function offer() {
    const known = intents.knownRuns();
    pick.replaceChildren(h("option", { value: "", text: known.length ? "your sessions…" : "no other sessions here" }),
      ...known.map((r) => h("option", { value: r.id, text: `${r.preset} · lr ${r.lr} · norm ${r.norm} · ${new Date(r.at).toLocaleString()}` })));
  }

  add.addEventListener("click", async () => {
    const text = paste.value.trim() || pick.value;
    if (!text) return;
    await intents.onAddRun(text);
    paste.value = "";
    offer();
  });
  refresh.addEventListener("click", () => intents.onRefreshRuns());
  csv.addEventListener("click", () => saveText(csvOf(state.runs), "attnflow-runs.csv"));
  png.addEventListener("click", () => chart.png());
  pick.addEventListener("focus", offer);

  function render() {
    chart.setRuns(state.runs.map(runTrace));
    csv.disabled = refresh.disabled = !state.runs.length;
    self.textContent = state.session ? `This session (training loss): ${describeRun(state.session, state.session)}` : "";
    list.replaceChildren(...state.runs.map((run, i) => h("li", { class: "run" },
      h("span", { class: "swatch", style: `background:${RUNS.colors[i % RUNS.colors.length]}` }),
      h("span", { class: "run-label", text: `${describeRun(run.info, state.session)} (step ${run.info.step})` }),
      h("button", { type: "button", class: "small run-remove", "aria-label": "Remove this run", text: "×",
        onclick: () => intents.onRemoveRun(run.ref) }))));
  }
  subscribe(["runs", "session"], render);
  offer();
  render();
  return { offer };
}
