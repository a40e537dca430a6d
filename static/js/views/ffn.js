// FFN view: which hidden units fire for each token (tokens × units, from the FFN's activation
// output), sortable, and the share of units that never fire on this sentence.
import { api } from "../api.js";
import { LIMITS, TIMING } from "../config.js";
import { state, subscribe, update } from "../state.js";
import { gradient, viridis } from "../util/color.js";
import { saveCanvas } from "../util/download.js";
import { clear, debounce, h, throttle } from "../util/dom.js";
import { num, pct } from "../util/format.js";
import { drawHeatmap } from "../util/heatmap.js";

const STAGE = "blocks.0.ffn.hook_post";

// Orders unit indices by the chosen key; returns the index list.
function order(values, by, token) {
  const units = values[0].map((_, u) => u);
  if (by === "index") return units;
  const score = by === "token"
    ? (u) => values[token][u]
    : (u) => values.reduce((sum, row) => sum + Math.max(row[u], 0), 0);
  return units.sort((a, b) => score(b) - score(a));
}

export function createFfnView(root, { onError, isVisible }) {
  let result = null;
  let sortBy = "activity";
  let inflight = null;
  const input = h("input", { type: "text", id: "ffn-sentence", "aria-label": "Sentence for the FFN view",
    spellcheck: "false", autocomplete: "off" });
  const sortSel = h("select", { id: "ffn-sort", "aria-label": "Sort units" },
    h("option", { value: "activity", text: "most active first" }),
    h("option", { value: "token", text: "by the picked token" }),
    h("option", { value: "index", text: "unit number" }));
  const summary = h("p", { class: "summary", id: "ffn-summary" });
  const canvas = h("canvas", { class: "heat wide", id: "ffn-canvas", role: "img" });
  const labels = h("div", { class: "row-labels", id: "ffn-labels" });
  const note = h("p", { class: "muted small", id: "ffn-note" });
  const legend = h("div", { class: "legend" });
  root.append(
    h("div", { class: "row" }, h("label", { for: "ffn-sentence", text: "Sentence" }), input,
      h("label", { for: "ffn-sort", text: "Sort" }), sortSel,
      h("button", { type: "button", class: "small", text: "PNG", title: "Download this heatmap as PNG",
        onclick: () => saveCanvas(canvas, "attnflow-ffn-units.png", 4) })),
    h("p", { class: "hint", text: "Each row is a token, each column a hidden unit of the FFN (after the activation). " +
      "A unit fires on a token when its activation is above 0. The FFN looks at one token at a time." }),
    summary,
    h("div", { class: "ffn-map" }, labels, canvas), legend, note,
  );
  input.addEventListener("input", debounce(() => update({ sentence: input.value }), 400));
  sortSel.addEventListener("change", () => {
    sortBy = sortSel.value;
    render();
  });

  async function load() {
    if (!state.session || !state.sentence.trim()) return;
    if (!state.session.config.use_ffn) {
      summary.textContent = "This model has no FFN (switched off in its config).";
      return;
    }
    if (inflight) inflight.abort();
    inflight = new AbortController();
    try {
      const r = await api.forward(state.session.id, state.sentence, { stages: [STAGE], signal: inflight.signal });
      const stage = r.stages.find((st) => st.name === STAGE);
      result = { step: r.step, tokens: r.tokens, values: stage.values, notice: r.notice };
      render();
    } catch (err) {
      if (err.name !== "AbortError") onError(err, "ffn-sentence");
    }
  }

  function render() {
    if (!result) return;
    if (document.activeElement !== input) input.value = state.sentence;
    const { values, tokens } = result;
    const T = tokens.length;
    const F = values[0].length;
    const fired = values[0].map((_, u) => values.some((row) => row[u] > 0));
    const silent = fired.filter((f) => !f).length;
    const token = Math.min(state.selectedToken ?? 0, T - 1);
    const units = order(values, sortBy, token).slice(0, LIMITS.ffnUnits);
    const m = values.map((row) => units.map((u) => Math.max(row[u], 0)));
    const hi = Math.max(...m.flat(), 1e-6);
    drawHeatmap(canvas, m, { range: [0, hi], rowLabel: (i) => `"${tokens[i].text}"`,
      colLabel: (j) => `unit ${units[j]}`, unit: " (activation)" });
    canvas.setAttribute("aria-label", `FFN activations, ${T} tokens by ${units.length} units`);
    clear(labels).append(...tokens.map((t, i) => h("span", { class: i === token ? "picked" : "", text: t.text })));
    canvas.style.height = `${Math.min(26 * T, 380)}px`;
    labels.style.height = canvas.style.height;
    summary.textContent = `${silent} of ${F} units (${pct(silent / F)}) never fire on this sentence; ` +
      `per token, ${num(avgActive(values), 3)} units fire on average.`;
    summary.dataset.silent = String(silent);
    summary.dataset.units = String(F);
    note.textContent = `${units.length < F ? `Showing ${units.length} of ${F} units, ` : `All ${F} units, `}` +
      `sorted by ${sortSel.selectedOptions[0].text}; model at step ${result.step}. Below 0 is drawn as 0.` +
      (result.notice ? ` ${result.notice}` : "");
    legend.replaceChildren(h("span", { text: "0" }),
      h("span", { class: "bar", style: `background:${gradient(viridis)}` }), h("span", { text: num(hi, 2) }));
  }

  function avgActive(values) {
    return values.reduce((sum, row) => sum + row.filter((v) => v > 0).length, 0) / values.length;
  }

  const refresh = throttle(() => isVisible() && !state.scrub && load(), TIMING.liveRefreshMs);
  subscribe(["sentence"], () => isVisible() && load());
  subscribe(["selectedToken"], () => result && sortBy === "token" && render());
  subscribe(["step"], refresh);
  return { load };
}
