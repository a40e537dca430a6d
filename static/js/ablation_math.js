// The comparison run's numbers as a learner reads them: the verdict sentence, a y-range zoomed
// on where the three models end, and a CSV. Pure: no DOM. `variants` is state.names.variants:
// each role (both, attention_only, ffn_only) with the name the server gives that model.
// "At the bound": within this many nats of the bigram bound counts as not beating it.
const AT_BOUND = 0.02;

// {role: final held-out loss}
const finals = (result, variants) => Object.fromEntries(Object.entries(variants)
  .map(([role, name]) => [role, result.variants[name]?.final_heldout_loss ?? null]));
const two = (x) => Math.abs(x).toFixed(2);

function vsBound(name, loss, bound) {
  if (!Number.isFinite(bound) || !Number.isFinite(loss)) return null;
  const d = loss - bound;
  if (Math.abs(d) < AT_BOUND) return `${name} stays at the bigram bound`;
  return `${name} ends ${two(d)} ${d < 0 ? "below" : "above"} the bigram bound`;
}

// {text, dAtt, dFfn, finals} with the differences in nats (positive: attention + FFN is lower).
export function verdict(result, variants) {
  const f = finals(result, variants);
  const both = f.both;
  const dAtt = f.attention_only - both;
  const dFfn = f.ffn_only - both;
  const side = (d, name) => `${two(d)} ${d >= 0 ? "below" : "above"} ${name}`;
  const parts = [`attention + FFN ends ${side(dAtt, "attention alone")} and ${side(dFfn, "FFN alone")}`];
  const ffnBound = vsBound("FFN alone", f.ffn_only, result.bigram_bound);
  if (ffnBound) parts.push(ffnBound);
  return { text: `${parts.join("; ")} (held-out nats per token after ${result.steps} steps).`, dAtt, dFfn, finals: f };
}

// [lo, hi] around the final losses and the bound: the gaps fill the figure; the early, high part
// of each curve runs off the top (the figure says so).
export function yRange(result, variants) {
  const ys = [...Object.values(finals(result, variants)), result.bigram_bound].filter(Number.isFinite);
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const spread = Math.max(hi - lo, 0.05);
  return [lo - 0.3 * spread, hi + 0.6 * spread];
}

export function csv(result, variants) {
  const rows = [["variant", "step", "train_loss", "heldout_loss"]];
  for (const v of Object.values(variants)) {
    const r = result.variants[v];
    if (!r) continue;
    const held = new Map(r.eval_steps.map((s, i) => [s, r.heldout_loss[i]]));
    r.steps.forEach((s, i) => rows.push([v, s, r.train_loss[i], held.has(s) ? held.get(s) : ""]));
  }
  rows.push(["bigram_bound", "", "", result.bigram_bound ?? ""]);
  return rows.map((r) => r.join(",")).join("\n") + "\n";
}
