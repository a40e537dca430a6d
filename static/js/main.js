// Wiring: build the views, open (or resume) the session, connect the stream, route user actions.
import { Player } from "./animation/player.js";
import { api } from "./api.js";
import { DEFAULTS } from "./config.js";
import { connectLive, createIngest } from "./live.js";
import { openSession, writeUrl } from "./session.js";
import { state, subscribe, update } from "./state.js";
import { cssVar, debounce, throttle } from "./util/dom.js";
import { saveSvg } from "./util/download.js";
import { createAttentionView } from "./views/attention.js";
import { createContextView } from "./views/context.js";
import { createControls } from "./views/controls.js";
import { createDiagram } from "./views/diagram.js";
import { createFfnView } from "./views/ffn.js";
import { createLossChart } from "./views/loss_chart.js";
import { createScrubber } from "./views/scrubber.js";
import { createSettings } from "./views/settings.js";
import { createStatus } from "./views/status.js";
import { createTabs } from "./views/tabs.js";
import { createTour } from "./views/tour.js";
import { createWeightsView } from "./views/weights.js";

const el = (id) => document.getElementById(id);
const v = {};
let stream = null;

function onError(err) {
  v.status.error(err);
}

async function guard(label, fn) {
  try {
    return await fn();
  } catch (err) {
    v.status.error(err, label);
    return null;
  }
}

// A learning rate changed in Settings travels with the next training call.
function withLr() {
  return v.settings.lrChange() === null ? {} : { lr: v.settings.lrChange() };
}

// Progress of a comparison run in the header, from its `compare` stream messages.
function createCompareTask() {
  let task = null;
  let steps = null;
  const done = () => {
    if (task) task.done();
    task = null;
  };
  const start = (n) => {
    done();
    steps = n;
    task = v.status.progress("Comparison");
  };
  const step = throttle((m) => {
    if (!task && !state.comparing) return; // a late message after the run finished
    if (!task) start(null);
    const k = ["attention+ffn", "ffn_only", "attention_only"].indexOf(m.variant);
    const frac = steps ? (k * steps + m.step) / (3 * steps) : null;
    task.update(frac, `comparing: ${m.variant.replace("_", " ")}, step ${m.step}${steps ? ` of ${steps}` : ""}`);
  }, 250);
  return { start, step, done };
}

async function afterLr(body) {
  if (!body.lr) return;
  update({ session: await api.session(state.session.id) });
  v.status.info(`Learning rate is now ${body.lr}.`);
}

const actions = {
  play: () => guard("Could not start training", async () => {
    const body = withLr();
    try {
      const info = await api.run(state.session.id, body);
      update({ running: info.running });
      await afterLr(body);
    } catch (err) {
      v.settings.showErrors(err);
      throw err;
    }
  }),
  pause: () => guard("Could not pause", async () => {
    const info = await api.pause(state.session.id);
    update({ running: info.running, step: info.step });
    v.scrubber.refreshList();
  }),
  step: () => guard("Could not train a step", async () => {
    const body = withLr();
    const r = await api.train(state.session.id, 1, body.lr);
    await afterLr(body);
    for (const rec of r.records) v.ingest.record(rec, "play");
    for (const e of r.evals || []) v.ingest.heldout(e.step, e.heldout_loss);
    if (r.diverged) v.status.error(new Error(r.diverged.message), "Training stopped");
    v.scrubber.refreshList();
  }),
  reset: () => guard("Could not reset", async () => {
    v.player.cancel();
    const info = await api.reset(state.session.id);
    update({ session: info, step: info.step, running: info.running });
    await reload();
  }),
  compare: async (steps, corpus) => {
    v.settings.clearErrors();
    try {
      const started = await api.startCompare(state.session.id, steps, corpus);
      v.compareTask.start(started.steps || steps);
      v.chart.startCompare();
      update({ comparing: true });
      v.status.info(`Comparison started on the "${started.corpus}" corpus: three models, ${started.steps} steps each. Their curves appear on the loss chart.`);
    } catch (err) {
      v.settings.showErrors(err);
      v.status.error(err, "Could not start the comparison");
    }
  },
  create: async (body, info) => {
    v.settings.clearErrors();
    try {
      const next = info || (await api.createSession(body));
      if (body && body.text) update({ customText: body.text });
      const old = state.session;
      await setSession(next);
      if (old && old.id !== next.id) api.deleteSession(old.id).catch(() => {});
      v.status.info(info ? `Checkpoint loaded: step ${next.step}.`
        : `New session: ${next.preset}, ${next.parameters.toLocaleString()} parameters.`);
    } catch (err) {
      v.settings.showErrors(err);
      v.status.error(err, "The settings were not accepted");
    }
  },
};

// Everything that depends on the session's history: loss curve, sparklines, snapshots.
async function reloadNow() {
  const task = v.status.progress("Loading history");
  try {
    const hist = await api.history(state.session.id);
    v.ingest.reset(hist);
    v.chart.reset(hist);
    v.weights.setHistory(hist);
    v.scrubber.setSnapshots(hist.snapshots || []);
    update({ step: hist.step, scrub: null, comparison: hist.comparison || null });
    v.weights.resetInit();
    showTab(state.tab);
  } catch (err) {
    onError(err);
  } finally {
    task.done();
  }
}
const reload = debounce(reloadNow, 60);

async function setSession(info) {
  if (stream) stream.close();
  if (state.session && state.session.id !== info.id) v.context.drop();
  v.player.cancel();
  v.player.resetCounts();
  const weight = info.shapes && info.shapes[DEFAULTS.weight] ? DEFAULTS.weight : Object.keys(info.shapes || {})[0];
  update({ session: info, step: info.step, running: info.running, comparing: info.comparing,
    sentence: info.probe, selectedToken: null, selectedWeight: weight, scrub: null, lastRecord: null });
  writeUrl(info, state.presets);
  const chip = el("session-chip");
  chip.textContent = `${info.preset} · ${info.parameters.toLocaleString()} parameters · session ${info.id.slice(0, 6)}…`;
  chip.title = `Session ${info.id}. The page's address resumes it and records its settings.`;
  v.diagram.draw(info);
  v.diagram.select(state.selectedWeight);
  await reloadNow();
  stream = connectLive(info.id, v);
}

function showTab(name) {
  if (!state.session) return;
  if (name === "attention") v.attention.refresh();
  if (name === "weights") {
    v.weights.load();
    v.weights.drawSparks();
  }
  if (name === "ffn") v.ffn.load();
}

function buildViews() {
  v.status = createStatus(el("toasts"), el("tasks"));
  v.tabs = createTabs(el("tabs"), showTab);
  const visible = (name) => () => v.tabs.isOpen(name);
  v.diagram = createDiagram(el("diagram"), {
    onSelectWeight: (name) => {
      update({ selectedWeight: name });
      v.tabs.open("weights");
    },
  });
  v.controls = createControls(el("player"), el("counters"), { onPlay: actions.play, onPause: actions.pause, onStep: actions.step });
  v.player = new Player({
    setPhase: (p, t, r) => {
      v.diagram.setPhase(p, t, r);
      v.controls.setPhase(p);
    },
    idle: (r) => {
      v.diagram.idle(r);
      v.controls.setPhase(null);
    },
  }, v.controls.setCounts);
  v.chart = createLossChart(el("loss-chart"), onError);
  v.attention = createAttentionView(el("panel-attention"), { onError, isVisible: visible("attention") });
  v.weights = createWeightsView(el("panel-weights"), { onError, isVisible: visible("weights") });
  v.ffn = createFfnView(el("panel-ffn"), { onError, isVisible: visible("ffn") });
  v.context = createContextView(el("panel-context"), { onError, progress: v.status.progress });
  v.scrubber = createScrubber(el("scrubber-bar"), { onError, onMarker: (s) => v.chart.setMarker(s) });
  v.settings = createSettings(el("panel-settings"), { onCreate: actions.create, onReset: actions.reset,
    onCompare: actions.compare, onError });
  v.ingest = createIngest(v);
  v.compareTask = createCompareTask();
  v.reload = reload;
  v.tour = createTour(el("tour"), el("caption"), tourContext());
}

function tourContext() {
  return {
    highlight: (ids, panel) => {
      v.diagram.highlight(ids);
      for (const node of document.querySelectorAll(".spotlight")) node.classList.remove("spotlight");
      if (panel) el(panel).classList.add("spotlight");
    },
    openTab: (name) => v.tabs.open(name),
    onError,
    showWeight: (short, mode) => {
      const name = Object.keys(state.session.shapes).find((n) => n.startsWith("blocks.0.") && n.endsWith(`.${short}.weight`));
      if (name) update({ selectedWeight: name });
      v.weights.setMode(mode);
      v.tabs.open("weights");
    },
    stepOnce: () => (state.running ? null : actions.step()),
    compareContexts: () => {
      v.tabs.open("context");
      return v.context.run();
    },
    compareRuns: () => (state.comparing || state.comparison ? null : actions.compare(DEFAULTS.compareSteps, DEFAULTS.compareCorpus)),
  };
}

function bindPage() {
  el("btn-tour").addEventListener("click", () => v.tour.start());
  el("png-diagram").addEventListener("click", () => saveSvg(el("diagram"), "attnflow-diagram.png", cssVar("--panel")));
  el("png-loss").addEventListener("click", () => v.chart.png());
  subscribe(["selectedWeight"], () => v.diagram.select(state.selectedWeight));
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => v.chart.retheme());
  window.addEventListener("pagehide", () => {
    if (v.context.companion) api.deleteOnUnload(v.context.companion.id);
  });
}

async function boot() {
  buildViews();
  bindPage();
  const task = v.status.progress("Starting a session");
  try {
    const [presets, corpora] = await Promise.all([api.presets(), api.corpora()]);
    update({ presets: presets.presets, corpora });
    const params = new URLSearchParams(location.search);
    const info = await openSession((msg) => v.status.info(msg));
    await setSession(info);
    const fresh = !params.has("session") && info.step === 0;
    if (fresh && params.get("autoplay") !== "0" && !info.running) {
      await guard("Could not start training", () => api.run(info.id, { steps: DEFAULTS.autoRunSteps }));
    }
    await v.chart.whenReady;
    document.body.dataset.ready = "true";
  } catch (err) {
    v.status.error(err, "Could not start");
  } finally {
    task.done();
  }
}

window.attnflow = { state, v };
boot();
