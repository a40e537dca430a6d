// The one animation player. It plays a training step's four phases on a renderer, frame by frame.
// Starting a new run cancels the previous one, so animations never stack. Steps that arrive while
// a run is playing are summarised: only the latest waits, the others are counted.
import { PHASES, TIMING } from "../config.js";

export class Player {
  // renderer: {setPhase(phase, t, record), idle(record)}; onCount({animated, summarised})
  constructor(renderer, onCount = () => {}) {
    this.renderer = renderer;
    this.onCount = onCount;
    this.speed = 1;
    this.frame = null;
    this.runId = 0;
    this.current = null;
    this.pending = null;
    this.animated = 0;
    this.summarised = 0;
  }

  get busy() {
    return this.current !== null;
  }

  setSpeed(speed) {
    this.speed = speed;
  }

  // A new step arrived: play it now if idle, otherwise keep it as the next one (replacing and
  // counting any step that was already waiting). Returns true when it will be animated.
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
  play(record) {
    this.cancel();
    const id = ++this.runId;
    this.current = record;
    this.animated += 1;
    this.onCount(this.counts());
    const total = PHASES.reduce((sum, p) => sum + TIMING.phaseMs[p], 0);
    const start = performance.now();
    let drawn = -Infinity;
    const tick = (now) => {
      if (id !== this.runId) return;
      const elapsed = (now - start) * this.speed;
      if (elapsed >= total) return this.finish(record);
      if (now - drawn < TIMING.animFrameMs) {
        this.frame = requestAnimationFrame(tick);
        return;
      }
      drawn = now;
      let t0 = 0;
      for (const phase of PHASES) {
        const d = TIMING.phaseMs[phase];
        if (elapsed < t0 + d) {
          this.renderer.setPhase(phase, (elapsed - t0) / d, record);
          break;
        }
        t0 += d;
      }
      this.frame = requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
  }

  finish(record) {
    this.frame = null;
    this.current = null;
    this.renderer.idle(record);
    const next = this.pending;
    this.pending = null;
    if (next) this.play(next);
  }

  // Stop the run in progress and forget any waiting step.
  cancel() {
    this.runId += 1;
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
    if (this.current) this.renderer.idle(this.current);
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
