// Routes stream messages to the views. Each message type has one handler; views stay unaware of
// the WebSocket. Step records from the stream and from the "+1 step" button meet in one ingest,
// which keeps each step once.
import { openStream } from "./api.js";
import { TIMING } from "./config.js";
import { state, update } from "./state.js";

export function connectLive(id, v) {
  const handlers = {
    hello: (m) => update({ step: m.step, running: m.running, comparing: Boolean(m.comparing) }),
    step: (m) => v.ingest.record(m.record, "offer", m.skipped || 0),
    eval: (m) => v.ingest.heldout(m.step, m.heldout_loss),
    attention: (m) => v.attention.onStream(m),
    run: (m) => onRun(m),
    compare: (m) => {
      if (!state.comparing) update({ comparing: true });
      v.chart.addCompare(m.variant, m.step, m.loss);
      v.compareTask.step(m);
    },
    compare_done: (m) => {
      update({ comparing: false });
      v.compareTask.done();
      if (!m.result) return v.status.error(new Error(m.message || "The comparison failed."), "Comparison");
      update({ comparison: m.result });
      v.chart.setComparison(m.result);
      v.status.info("Comparison finished: see the loss chart.");
    },
    bye: (m) => v.status.info(`The server closed this session's stream (${m.reason}).`),
  };

  function onRun(m) {
    update({ running: m.state === "started", step: m.step ?? state.step });
    if (m.state === "diverged") v.status.error(new Error(m.message || "Training diverged."), "Training stopped");
    if (m.state === "reset") v.reload();
    if (m.state === "started") v.player.resetCounts();
    if (m.state === "paused" || m.state === "finished") v.scrubber.refreshList();
  }

  let notified = false;
  return openStream(id, (msg) => {
    const handler = handlers[msg.type];
    if (handler) handler(msg);
  }, (status, info) => {
    if (status === "open" && notified) {
      notified = false;
      v.status.info("Live stream reconnected.");
    }
    if (status === "retrying" && info.attempt === 3) {
      notified = true;
      v.status.error(new Error("The live stream dropped; reconnecting…"));
    }
  }, TIMING.streamRetryMs);
}

// One entry for step records and held-out evaluations, whichever way they arrive.
export function createIngest(v) {
  let lastStep = -1;
  let lastEval = -1;
  return {
    // mode "offer": animate if the eye can keep up, else summarise; "play": animate now.
    record(rec, mode, skipped = 0) {
      const fresh = rec.step > lastStep;
      if (fresh) {
        lastStep = rec.step;
        v.chart.addTrain(rec.step, rec.loss);
        v.weights.addRecord(rec);
        update({ step: Math.max(rec.step, state.step), lastRecord: rec });
      }
      if (skipped) v.player.addSkipped(skipped);
      if (mode === "play") v.player.play(rec);
      else if (fresh) v.player.offer(rec);
    },
    heldout(step, loss) {
      if (step <= lastEval) return;
      lastEval = step;
      v.chart.addHeldout(step, loss);
    },
    reset(history) {
      const steps = history.train.steps;
      const evals = history.heldout.steps;
      lastStep = steps.length ? steps[steps.length - 1] : -1;
      lastEval = evals.length ? evals[evals.length - 1] : -1;
    },
  };
}
