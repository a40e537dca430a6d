// Part of the controller: what each learner intent does (train, step, reset, scrub, compare…).
// Views call these; these call the API and update the page state.
import { verdict } from "../ablation_math.js";
import { DEFAULTS } from "../config.js";
import { state, update } from "../state.js";
import { distances } from "../vectors.js";
import { throttle } from "../util/dom.js";
import { createPredictFlows, loadScore, setPredict } from "./predicting.js";

export function createActions({ api, c, companion, guard, show, loadWeights, loadBaseline, reload, setSession,
  refreshSnapshots }) {
  const v = () => c.views;
  let compareTask = null;
  let compareSteps = null;
  const predict = createPredictFlows({ api, c, show });
  update({ predict: loadScore() });

  // A learning rate changed in Settings travels with the next training call.
  const withLr = () => (v().settings.lrChange() === null ? {} : { lr: v().settings.lrChange() });
  async function afterLr(body) {
    if (!body.lr) return;
    update({ session: await api.session(state.session.id) });
    v().status.info(`Learning rate is now ${body.lr}.`);
  }

  async function loadDynamics() {
    v().dynamics.show(await api.dynamics(state.session.id));
  }

  // Training acts on the live model: a page looking at a stored step goes back to live first.
  async function toLive() {
    if (state.viewing !== null) await show(null);
  }

  const intents = {
    onPlay: () => guard("Could not start training", async () => {
      if (state.running) return;
      await toLive();
      const body = withLr();
      try {
        const info = await api.run(state.session.id, body);
        update({ running: info.running });
        await afterLr(body);
      } catch (err) {
        v().settings.showErrors(err);
        throw err;
      }
    }),
    onPause: () => guard("Could not pause", async () => {
      const info = await api.pause(state.session.id);
      update({ running: info.running, liveStep: Math.max(info.step, state.liveStep) });
      await refreshSnapshots();
    }),
    onStep: () => guard("Could not train a step", async () => {
      if (state.running) return;
      await toLive();
      const guess = await predict.beforeStep(); // null: no guess; undefined: a question is open
      if (guess === undefined || state.running) return;
      const body = withLr();
      const r = await api.train(state.session.id, 1, body.lr);
      await afterLr(body);
      for (const e of r.evals || []) c.heldout(e.step, e.heldout_loss);
      for (const rec of r.records) c.ingest(rec, "play");
      predict.afterStep(guess, r.records[r.records.length - 1]);
      await show(null, { quiet: true }); // every view at the new step while its animation plays
      if (r.diverged) v().status.error(new Error(r.diverged.message), "Training stopped");
      await refreshSnapshots();
    }),
    onPredictToggle: (on) => {
      setPredict({ on });
      if (!on) v().predict.cancel();
    },
    onNextPhase: () => v().player.next(),
    onReplay: () => {
      if (!state.running) v().player.replay({ stepThrough: state.stepThrough });
    },
    onSpeed: (speed) => {
      update({ speed });
      v().player.setSpeed(speed);
    },
    onStepThrough: (on) => {
      update({ stepThrough: on });
      if (!on) v().player.next(); // a run waiting after a phase goes on
    },
    onReset: () => guard("Could not reset", async () => {
      v().player.cancel();
      const info = await api.reset(state.session.id);
      update({ session: info, liveStep: 0, running: info.running, viewing: null, lastRecord: null });
      await reload();
      v().status.info("Fresh random weights from the same seed: back at step 0.");
    }),
    // -- the viewed step and what is looked at --
    onScrub: (step) => guard("Could not show that step", () => show(step)),
    onLive: () => guard("Could not go back to live", () => show(null)),
    onOpenHistory: () => refreshSnapshots(),
    onSentence: (text) => {
      if (!text.trim() || text === state.sentence) return Promise.resolve();
      update({ sentence: text, tokenPicked: false });
      return guard("Could not run that sentence", () => show(state.viewing));
    },
    onProbe: () => intents.onSentence(state.session.probe),
    onSelectToken: (i) => update({ selectedToken: i, tokenPicked: true }),
    onSeedWord: () => {
      const tokens = state.viewed ? state.viewed.tokens.map((t) => t.text) : [];
      const i = tokens.lastIndexOf(DEFAULTS.word);
      if (i >= 0) return update({ selectedToken: i, tokenPicked: true });
      // Not in this sentence: the seed's sentence, then its word.
      return intents.onSentence(DEFAULTS.sentenceA).then(() => {
        const j = state.viewed ? state.viewed.tokens.map((t) => t.text).lastIndexOf(DEFAULTS.word) : -1;
        if (j >= 0) update({ selectedToken: j, tokenPicked: true });
      });
    },
    onContrast: (mode) => {
      update({ contrast: mode });
      if (mode === "off") update({ baseline: null });
      else guard("Could not load step 0", loadBaseline);
    },
    onSelectWeight: (name) => {
      update({ selectedWeight: name, tab: "weights" });
      guard("Could not load the weight", loadWeights);
    },
    onWeightMode: (mode) => {
      update({ weightMode: mode });
      guard("Could not load the weight", loadWeights);
    },
    // A refused entry (422) is shown in the view; anything else goes to the status area.
    onGradcheck: (parameter, row, col) => guard("Could not check the gradient", async () => {
      update({ gradcheck: null });
      try {
        update({ gradcheck: await api.gradcheck(state.session.id, parameter, row, col) });
      } catch (err) {
        if (err.status !== 422) throw err;
        update({ gradcheck: { error: err.message } });
      }
    }),
    onTab: (name) => {
      update({ tab: name });
      if (name === "weights") guard("Could not load the weight", loadWeights);
      if (name === "dynamics") guard("Could not load the training dynamics", loadDynamics);
    },
    // -- sessions --
    onCreate: (body) => guard("The settings were not accepted", async () => {
      v().settings.clearErrors();
      try {
        const next = await api.createSession(body);
        if (body.text) update({ customText: body.text });
        const old = state.session;
        await setSession(next);
        if (old && old.id !== next.id) api.deleteSession(old.id).catch(() => {});
        v().status.info(`New session: ${next.preset}, ${next.parameters.toLocaleString()} parameters, at step 0.`);
      } catch (err) {
        v().settings.showErrors(err);
        throw err;
      }
    }),
    onImport: (file) => guard("Could not load the checkpoint", async () => {
      const info = await api.putCheckpoint(state.session.id, file);
      await setSession(info);
      v().status.info(`Checkpoint loaded: step ${info.step}.`);
    }),
    onCompare: async (steps, corpus) => {
      v().settings.clearErrors();
      try {
        const started = await api.startCompare(state.session.id, steps, corpus);
        startCompareTask(started.steps || steps);
        v().ablation.start(started.steps || steps);
        update({ comparing: true, tab: "context" });
        v().status.info(`Comparison started on the "${started.corpus}" corpus: three models, ${started.steps} steps each ` +
          "(see \"What attention adds\").");
      } catch (err) {
        v().settings.showErrors(err);
        v().status.error(err, "Could not start the comparison");
      }
    },
    onContexts: (request) => guard("Could not compare the contexts", async () => {
      const task = v().status.progress("Comparing contexts");
      v().context.setBusy(true);
      try {
        const { withAtt, ffnOnly } = await companion.compare(state.session, state.customText, request, task.update);
        v().context.render(request.word, withAtt, ffnOnly);
        const dist = (pair) => distances(pair[0].vec, pair[1].vec).euclid;
        update({ contextResult: { word: request.word, step: withAtt[0].step, withAttention: dist(withAtt),
          ffnOnly: ffnOnly ? dist(ffnOnly) : null } });
      } finally {
        task.done();
        v().context.setBusy(false);
      }
    }),
    onStopContexts: () => companion.stop(),
  };

  // Progress of a comparison run in the header, from its `compare` stream messages.
  function startCompareTask(n) {
    if (compareTask) compareTask.done();
    compareSteps = n;
    compareTask = v().status.progress("Comparison");
  }
  const compareStep = throttle((m) => {
    if (!compareTask && !state.comparing) return; // a late message after the run finished
    if (!compareTask) startCompareTask(null);
    const k = Object.values(state.names.variants).indexOf(m.variant); // the order the models run in
    const frac = compareSteps ? (k * compareSteps + m.step) / (3 * compareSteps) : null;
    compareTask.update(frac, `comparing: ${m.variant.replace("_", " ")}, step ${m.step}${compareSteps ? ` of ${compareSteps}` : ""}`);
  }, 250);

  const streamSide = {
    onCompareProgress(m) {
      if (!state.comparing) update({ comparing: true });
      v().ablation.progressPoint(m.variant, m.step, m.loss, compareSteps);
      compareStep(m);
    },
    onCompareDone(m) {
      update({ comparing: false });
      if (compareTask) compareTask.done();
      compareTask = null;
      if (!m.result) return v().status.error(new Error(m.message || "The comparison failed."), "Comparison");
      update({ comparison: m.result });
      v().status.info(`Comparison finished: ${verdict(m.result, state.names.variants).text}`);
    },
  };

  // The tour drives the page through these.
  intents.tour = {
    stepOnce: () => (state.running ? null : intents.onStep()),
    compareContexts: () => {
      intents.onTab("context");
      return intents.onContexts(v().context.request());
    },
    compareRuns: () => {
      intents.onTab("context");
      return state.comparing || state.comparison ? null : intents.onCompare(DEFAULTS.compareSteps, DEFAULTS.compareCorpus);
    },
    // The question to ask before the comparison, or null when it exists or runs already.
    compareCost: () => {
      if (state.comparing || state.comparison) return null;
      const ms = state.lastRecord && state.lastRecord.time_ms ? state.lastRecord.time_ms : 7;
      const seconds = Math.max(5, Math.round((3 * DEFAULTS.compareSteps * ms * 1.3) / 1000 / 5) * 5);
      return `This trains three fresh models for ${DEFAULTS.compareSteps} steps each on the "${DEFAULTS.compareCorpus}" ` +
        `corpus: about ${seconds} s here (measured from this session's last step). Run it now?`;
    },
    replay: () => intents.onReplay(),
    predictAttention: () => predict.tourAttention(),
    leave: () => v().predict.cancel(), // the tour moved on: a question of its step is void
    summary: () => tourSummary(),
  };

  // The closing words of the tour, with this session's own numbers where it has them.
  function tourSummary() {
    const out = ["Attention does not hand the FFN weights: it hands it an output, one context-mixed vector per token. " +
      "Both start from their own random weights and learn together from one loss."];
    const zero = c.stepZeroLoss();
    const r = state.lastRecord;
    if (Number.isFinite(zero) && r) out.push(`Here the loss fell from ${zero.toFixed(2)} nats at step 0 to ${r.loss.toFixed(2)} at step ${r.step}.`);
    const ctxr = state.contextResult;
    if (ctxr && ctxr.ffnOnly !== null) {
      out.push(`"${ctxr.word}" in two sentences: ${ctxr.withAttention.toFixed(2)} apart with attention, ` +
        `${ctxr.ffnOnly.toFixed(2)} with the FFN alone.`);
    }
    if (state.comparison) out.push(`Measured: ${verdict(state.comparison, state.names.variants).text}`);
    else out.push("Run the comparison (step 5) to measure what each part adds.");
    return out.join(" ");
  }

  return { intents, streamSide };
}
