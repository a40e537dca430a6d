// The controller: the only code that talks to the server (api.js). It turns learner intents into
// API calls and stream messages into page state; views only render that state. The page state
// knows two steps, the live one and the viewed one, and every view's data (`state.viewed`,
// `state.weightData`, `state.baseline`) is loaded for the viewed step.
import { api, openStream } from "../api.js";
import { DEFAULTS, TIMING } from "../config.js";
import { bodyFromQuery, writeUrl } from "../session.js";
import { blocksOf, state, update } from "../state.js";
import { throttle } from "../util/dom.js";
import { createActions } from "./actions.js";
import { createCompanion } from "./companion.js";
import { createLoader } from "./loader.js";
import { createRuns } from "./runs.js";
import { createShare } from "./share.js";
import { readOnlyIntents, watchToken } from "../watch_link.js";
import { mostFocused } from "../focus.js";

// The stream's message types, each with its one handler (see docs/api-contract.md).
function streamHandlers(c) {
  return {
    hello: (m) => update({ liveStep: Math.max(m.step, state.liveStep), running: m.running, comparing: Boolean(m.comparing) }),
    step: (m) => c.ingest(m.record, state.running ? "offer" : "quiet", m.skipped || 0),
    eval: (m) => c.heldout(m.step, m.heldout_loss),
    attention: () => {}, // the views ask for what they show (any sentence, any step); the probe's stream is not needed
    run: (m) => c.onRun(m),
    compare: (m) => c.onCompareProgress(m),
    compare_done: (m) => c.onCompareDone(m),
    bye: (m) => {
      c.views.status.info(`The server closed this session's stream (${m.reason}).`);
      update({ streamEnded: m.reason });
    },
  };
}

export function createController() {
  let v = null; // the views this controller feeds
  let stream = null;
  let lastStep = -1;
  let lastEval = -1;
  const companion = createCompanion(api);
  const load = createLoader(api);
  update({ watching: watchToken() }); // a /watch/{token} page: read-only, the token in place of the id

  const guard = async (label, fn) => {
    try {
      return await fn();
    } catch (err) {
      if (err.name !== "AbortError") v.status.error(err, label);
      return null;
    }
  };

  // -- what the views show -------------------------------------------------------------------

  // Loads the viewed step's data for the sentence (and the weight, and step 0 when compared),
  // then sets viewing + viewed together so every view moves at once.
  async function show(step, { quiet = false } = {}) {
    const ticket = load.ticket();
    const data = await load.viewed(step, state.sentence);
    if (!load.current(ticket)) return;
    const token = pickToken(data);
    // The live model may be a few steps past the stream: the page's step is never behind a view.
    if (step === null) update({ liveStep: Math.max(state.liveStep, data.step) });
    update({ viewing: step, viewed: data, selectedToken: token });
    v.diagram.show(step === null ? liveFigures() : data.figures);
    if (state.contrast !== "off") await loadBaseline();
    if (state.tab === "weights") await loadWeights();
    if (!quiet) v.chart.setMarker(step);
  }

  // The learner's pick stays while the tokens stay; otherwise the token whose attention is most
  // focused at this step (paused: it may move as the model learns; training: it holds still).
  function pickToken(data) {
    const T = data.tokens.length;
    const same = state.viewed && state.viewed.tokens.length === T &&
      state.viewed.tokens.every((t, i) => t.text === data.tokens[i].text);
    const keep = same && state.selectedToken !== null && state.selectedToken < T;
    if (keep && (state.tokenPicked || state.running)) return state.selectedToken;
    return mostFocused(data.attention) ?? T - 1;
  }

  async function loadBaseline() {
    const base = await load.viewed(0, state.sentence).catch(() => null);
    update({ baseline: base });
  }

  async function loadWeights() {
    const name = state.selectedWeight;
    if (!name) return;
    const d = await load.weight(state.viewing, name, state.weightMode === "change");
    if (d && name === state.selectedWeight) update({ weightData: d });
  }

  // The live diagram figures: the last step taken, or the untouched model's held-out loss.
  function liveFigures() {
    const r = state.lastRecord;
    if (r) return { step: r.step, loss: r.loss, lossKind: "train", grad_norms: r.grad_norms, update_ratios: r.update_ratios };
    return load.stepZeroFigures();
  }

  const refreshLive = throttle(() => {
    if (state.viewing !== null) return;
    guard("Could not update the views", () => show(null, { quiet: true }));
  }, TIMING.liveRefreshMs);
  const figuresLater = throttle(() => state.viewing === null && v.diagram.show(liveFigures()), 250);
  // While training, new snapshots appear (0, 1, 2, 4 … and every k steps): keep the ticks current.
  const snapshotsLater = throttle(() => refreshSnapshots(), TIMING.snapshotListMs);

  // -- step records, whichever way they arrive -----------------------------------------------

  // mode "offer": continuous training, animate if the eye can keep up; "play": this page's
  // "+1 step", animate now; "quiet": someone else's /train, record only.
  function ingest(rec, mode, skipped = 0) {
    const fresh = rec.step > lastStep;
    if (fresh) {
      lastStep = rec.step;
      v.chart.addTrain(rec.step, rec.loss);
      v.weights.addRecord(rec);
      update({ liveStep: Math.max(rec.step, state.liveStep), lastRecord: rec });
      figuresLater();
      snapshotsLater();
    }
    if (skipped) v.player.addSkipped(skipped);
    if (mode === "play") v.player.play(rec, { stepThrough: state.stepThrough });
    else if (mode === "offer" && fresh) v.player.offer(rec);
    if (mode !== "play" && fresh && state.tab !== "context" && state.tab !== "settings") refreshLive();
  }

  function heldout(step, loss) {
    if (step <= lastEval) return;
    lastEval = step;
    v.chart.addHeldout(step, loss);
  }

  function onRun(m) {
    update({ running: m.state === "started", liveStep: Math.max(m.step ?? 0, m.state === "reset" ? 0 : state.liveStep) });
    if (m.state === "diverged") v.status.error(new Error(m.message || "Training diverged."), "Training stopped");
    if (m.state === "reset") reload();
    if (m.state === "started") v.player.resetCounts();
    if (m.state === "paused" || m.state === "finished") {
      refreshSnapshots();
      if (state.tab === "dynamics") c.onTab("dynamics"); // the run's new points
    }
  }

  // -- session and history -------------------------------------------------------------------

  // The held-out curve starts where the model started: the untouched model's held-out loss
  // (snapshot 0) is its first point, so the chart is not empty at step 0.
  function withStepZero(hist, zero) {
    const held = hist.heldout;
    if (!zero || zero.lossKind !== "heldout" || held.steps[0] === 0) return hist;
    return { ...hist, heldout: { ...held, steps: [0, ...held.steps], loss: [zero.loss, ...held.loss] } };
  }

  async function reload() {
    const task = v.status.progress("Loading history");
    try {
      const hist = await api.history(state.session.id);
      load.forget();
      const steps = hist.train.steps;
      lastStep = steps.length ? steps[steps.length - 1] : -1;
      lastEval = hist.heldout.steps.length ? hist.heldout.steps[hist.heldout.steps.length - 1] : -1;
      v.weights.setHistory(hist);
      update({ liveStep: hist.step, snapshots: hist.snapshots || [], comparison: hist.comparison || null,
        lastRecord: lastRecordOf(hist) });
      const zero = await load.stepZero(state.session.id, hist.snapshots || []);
      v.chart.reset(withStepZero(hist, zero));
      await show(null);
    } catch (err) {
      v.status.error(err);
    } finally {
      task.done();
    }
  }

  // The last logged step as a record (so a resumed session's diagram has its figures).
  function lastRecordOf(hist) {
    const n = hist.train.steps.length;
    if (!n) return null;
    const at = (series) => Object.fromEntries(Object.entries(series || {}).map(([k, xs]) => [k, xs[n - 1]]));
    return { step: hist.train.steps[n - 1], loss: hist.train.loss[n - 1], grad_norms: at(hist.grad_norms),
      update_ratios: at(hist.update_ratios) };
  }

  async function refreshSnapshots() {
    const list = await api.snapshots(state.session.id).catch(() => null);
    if (list) update({ snapshots: list.steps });
  }

  async function setSession(info) {
    if (stream) stream.close();
    if (state.session && state.session.id !== info.id) await companion.drop();
    v.player.cancel();
    v.player.resetCounts();
    const blocks = blocksOf(info);
    load.use(info, blocks);
    const first = blocks[0].weights[DEFAULTS.weight];
    const weight = info.shapes && info.shapes[first] ? first : Object.keys(info.shapes || {})[0];
    update({ session: info, liveStep: info.step, running: info.running, comparing: info.comparing,
      sentence: info.probe, selectedToken: null, tokenPicked: false, selectedWeight: weight, viewing: null, viewed: null,
      baseline: null, weightData: null, lastRecord: null, gradcheck: null });
    if (!state.watching) writeUrl(info, state.presets);
    runs.remember(info);
    v.header.show(info);
    // A run the server stopped by restarting: say where it stopped, once, when the page opens it.
    if (info.interrupted) v.status.info(`This session's run was ${info.interrupted.message}; press Train to go on.`);
    v.diagram.draw(info, blocks);
    v.diagram.select(state.selectedWeight);
    await reload();
    stream = openStream(info.id, (msg) => {
      const handler = handlers[msg.type];
      if (handler) handler(msg);
    }, onStreamStatus, TIMING.streamRetryMs);
  }

  let notified = false;
  function onStreamStatus(status, info) {
    if (status === "open" && notified) {
      notified = false;
      v.status.info("Live stream reconnected.");
    }
    if (status === "retrying" && info.attempt === 3) {
      notified = true;
      v.status.error(new Error("The live stream dropped; reconnecting…"));
    }
  }

  // Resume the URL's session if it still exists (where it is, running or not); otherwise a new
  // one from the URL's config, at step 0 and paused.
  async function openSession() {
    if (state.watching) return api.session(state.watching);
    const params = new URLSearchParams(location.search);
    const id = params.get("session");
    if (id) {
      try {
        return await api.session(id);
      } catch (err) {
        if (err.status !== 404) throw err;
        v.status.info(`Session ${id} is gone (sessions are evicted when idle); starting a new one with the same settings.`);
      }
    }
    return api.createSession(bodyFromQuery(params));
  }

  const stepZeroLoss = () => (load.stepZeroFigures() || {}).loss;
  const c = { ingest, heldout, onRun, stepZeroLoss, get views() { return v; } };
  const handlers = streamHandlers(c);
  const actions = createActions({ api, c, companion, guard, show, loadWeights, loadBaseline, reload, setSession,
    refreshSnapshots });
  Object.assign(c, actions.streamSide, { onTab: actions.intents.onTab });
  const runs = createRuns({ api, guard });
  const all = { ...actions.intents, ...createShare({ api, guard }), ...runs.intents, knownRuns: runs.known };
  const intents = state.watching ? readOnlyIntents(all) : all;

  async function boot() {
    const task = v.status.progress("Starting a session");
    try {
      const [presets, corpora, names] = await Promise.all([api.presets(), api.corpora(), api.names()]);
      update({ presets: presets.presets, corpora, names });
      await setSession(await openSession());
      await v.chart.whenReady;
      document.body.dataset.ready = "true";
    } catch (err) {
      v.status.error(err, "Could not start");
    } finally {
      task.done();
    }
  }

  return {
    intents,
    attach: (views) => {
      v = views;
    },
    boot,
    companionId: () => companion.id,
    deleteOnUnload: () => companion.id && api.deleteOnUnload(companion.id),
    urls: api.urls,
  };
}
