// The one animation player. It plays a training step's four phases on a renderer, frame by frame,
// at `speed` (0 = no animation: each phase is drawn finished at once). Starting a new run cancels
// the previous one, so animations never stack. In step-through mode it stops after each phase
// until `next()`. Steps that arrive while a run is playing are summarised: only the latest waits,
// the others are counted. Each phase start and each finished step is announced as a DOM event
// ("attnflow:phase", "attnflow:step-done") for whoever listens (the tests measure timing so).
import { TIMING } from "../config.js";
import { state } from "../state.js";

const announce = (name, detail) => document.dispatchEvent(new CustomEvent(name, { detail }));

export class Player {
  // renderer: {setPhase(phase, t, record), idle(record)};
  // hooks: {onCount({animated, summarised}), onPhase(phase | null, record, waiting)}
  constructor(renderer, hooks = {}) {
    this.renderer = renderer;
    this.onCount = hooks.onCount || (() => {});
    this.onPhase = hooks.onPhase || (() => {});
    this.speed = 1;
    this.frame = null;
    this.runId = 0;
    this.current = null;
    this.pending = null;
    this.last = null; // the last record played, for replay
    this.resume = null; // set while a step-through run waits after a phase
    this.animated = 0;
    this.summarised = 0;
  }

  get busy() {
    return this.current !== null;
  }

  get waiting() {
    return this.resume !== null;
  }

  setSpeed(speed) {
    this.speed = speed;
  }

  // A step from continuous training: play it now if idle, otherwise keep it as the next one
  // (replacing and counting any step that was already waiting). Never stops between phases.
  offer(record) {
    if (!this.busy) {
      this.play(record);
      return true;
    }
    if (this.pending) this.summarised += 1;
    this.pending = record;
    this.onCount(this.counts());
    return false;
  }

  // Play this record right away, cancelling whatever was running.
  play(record, { stepThrough = false } = {}) {
    this.cancel();
    const id = ++this.runId;
    this.current = record;
    this.last = record;
    this.animated += 1;
    this.onCount(this.counts());
    this.runPhases(id, record, stepThrough);
  }

  replay(options) {
    if (this.last) this.play(this.last, options);
  }

  // Continue a step-through run that waits after a phase.
  next() {
    const go = this.resume;
    this.resume = null;
    if (go) go();
  }

  // Phases follow a timeline: each starts when the previous one was due to end, so display
  // frames do not add up. `late` is how far past its due time the last phase was seen to end
  // (about a frame): the step-done event reports it with the duration.
  async runPhases(id, record, stepThrough) {
    const began = performance.now();
    let due = began;
    let late = 0;
    const phases = state.names.phases; // a step plays only once a session (and so the names) is there
    for (let i = 0; i < phases.length; i += 1) {
      const phase = phases[i];
      this.onPhase(phase, record, false);
      announce("attnflow:phase", { phase, step: record.step, at: performance.now(), speed: this.speed });
      const duration = this.speed > 0 ? TIMING.phaseMs[phase] / this.speed : 0;
      const ended = await this.animate(id, phase, record, due, duration);
      if (id !== this.runId) return;
      due += duration;
      late = Math.max(0, ended - due); // earlier phases' lateness is absorbed by the timeline
      if (stepThrough && i < phases.length - 1) {
        this.onPhase(phase, record, true);
        await new Promise((resolve) => {
          this.resume = resolve;
        });
        if (id !== this.runId) return;
        due = performance.now(); // waiting is not part of the animation
      }
    }
    this.finish(record, { duration: performance.now() - began, late });
  }

  // One phase from t = 0 to 1 between `start` and start + duration; resolves with the time it
  // was seen to end.
  animate(id, phase, record, start, duration) {
    return new Promise((resolve) => {
      this.stopAnim = resolve; // a cancel ends the phase's promise too
      if (duration === 0) {
        this.renderer.setPhase(phase, 1, record);
        return resolve(performance.now());
      }
      let drawn = -Infinity;
      const tick = (now) => {
        if (id !== this.runId) return resolve(now);
        const t = Math.min((now - start) / duration, 1);
        if (t >= 1) {
          this.renderer.setPhase(phase, 1, record);
          return resolve(now);
        }
        if (now - drawn >= TIMING.animFrameMs) {
          drawn = now;
          this.renderer.setPhase(phase, Math.max(t, 0), record);
        }
        this.frame = requestAnimationFrame(tick);
      };
      this.frame = requestAnimationFrame(tick);
    });
  }

  finish(record, timing = {}) {
    this.frame = null;
    this.current = null;
    this.renderer.idle(record);
    this.onPhase(null, record, false);
    announce("attnflow:step-done", { step: record.step, at: performance.now(), speed: this.speed, ...timing });
    const next = this.pending;
    this.pending = null;
    if (next) this.play(next);
  }

  // Stop the run in progress and forget any waiting step.
  cancel() {
    this.runId += 1;
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
    if (this.stopAnim) this.stopAnim();
    this.stopAnim = null;
    const go = this.resume;
    this.resume = null;
    if (go) go(); // lets the waiting run see it was cancelled and end
    if (this.current) {
      this.renderer.idle(this.current);
      this.onPhase(null, this.current, false);
    }
    this.current = null;
    this.pending = null;
  }

  addSkipped(n) {
    this.summarised += n;
    this.onCount(this.counts());
  }

  resetCounts() {
    this.animated = 0;
    this.summarised = 0;
    this.onCount(this.counts());
  }

  counts() {
    return { animated: this.animated, summarised: this.summarised };
  }
}
