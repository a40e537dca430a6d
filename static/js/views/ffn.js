// FFN view: which hidden units fire for each token (tokens × units, from the FFN's activation
// output), sortable, and the share of units that never fire on this sentence. It draws
// `state.viewed.ffn` (the viewed step) and, for "step 0 vs now", `state.baseline.ffn`.
import { LIMITS } from "../config.js";
import { state, subscribe } from "../state.js";
import { gradient, viridis } from "../util/color.js";
import { saveCanvas } from "../util/download.js";
import { clear, debounce, h } from "../util/dom.js";
import { num, pct } from "../util/format.js";
import { drawHeatmap } from "../util/heatmap.js";
import { labelStep, unlabel } from "../util/steps.js";
import { contrastToggle } from "./contrast.js";

// Orders unit indices by the chosen key; returns the index list.
function order(values, by, token) {
  const units = values[0].map((_, u) => u);
  if (by === "index") return units;
  const score = by === "token"
    ? (u) => values[token][u]
    : (u) => values.reduce((sum, row) => sum + Math.max(row[u], 0), 0);
  return units.sort((a, b) => score(b) - score(a));
}

export function silentUnits(values) {
  return values[0].filter((_, u) => !values.some((row) => row[u] > 0)).length;
}

function avgActive(values) {
  return values.reduce((sum, row) => sum + row.filter((v) => v > 0).length, 0) / values.length;
}

// intents: {onSentence(text), onContrast(mode)}
export function createFfnView(root, intents) {
  let sortBy = "activity";
  const input = h("input", { type: "text", id: "ffn-sentence", "aria-label": "Sentence for the FFN view",
    spellcheck: "false", autocomplete: "off" });
  const sortSel = h("select", { id: "ffn-sort", "aria-label": "Sort units" },
    h("option", { value: "activity", text: "most active first" }),
    h("option", { value: "token", text: "by the picked token" }),
    h("option", { value: "index", text: "unit number" }));
  const summary = h("p", { class: "summary", id: "ffn-summary" });
  const summary0 = h("p", { class: "summary muted", id: "ffn-summary-0" });
  const canvas = h("canvas", { class: "heat wide", id: "ffn-canvas", role: "img" });
  const canvas0 = h("canvas", { class: "heat wide", id: "ffn-canvas-0", role: "img", hidden: true });
  const labels = h("div", { class: "row-labels", id: "ffn-labels" });
  const labels0 = h("div", { class: "row-labels", id: "ffn-labels-0", hidden: true });
  const note = h("p", { class: "muted small", id: "ffn-note" });
  const legend = h("div", { class: "legend" });
  const toggle = contrastToggle("ffn-contrast", intents.onContrast, ["off", "side"]);
  const map0 = h("div", { class: "ffn-map", hidden: true }, labels0, canvas0);
  root.append(
    h("div", { class: "row" }, h("label", { for: "ffn-sentence", text: "Sentence" }), input,
      h("label", { for: "ffn-sort", text: "Sort" }), sortSel,
      h("button", { type: "button", class: "small", text: "PNG", title: "Download this heatmap as PNG",
        onclick: () => saveCanvas(canvas, "attnflow-ffn-units.png", 4) })),
    h("p", { class: "hint", text: "Each row is a token, each column a hidden unit of the FFN (after the activation). " +
      "A unit fires on a token when its activation is above 0. The FFN looks at one token at a time." }),
    summary, h("div", { class: "row" }, toggle.el), summary0, map0,
    h("div", { class: "ffn-map" }, h("span", { class: "axis", text: "token" }), h("span", { class: "axis", text: "hidden units of the FFN →" }),
      labels, canvas), legend, note,
  );
  input.addEventListener("input", debounce(() => intents.onSentence(input.value), 400));
  sortSel.addEventListener("change", () => {
    sortBy = sortSel.value;
    render();
  });

  function draw(cv, lab, values, tokens, units, hi, token) {
    const m = values.map((row) => units.map((u) => Math.max(row[u], 0)));
    drawHeatmap(cv, m, { range: [0, hi], rowLabel: (i) => `"${tokens[i].text}"`,
      colLabel: (j) => `unit ${units[j]}`, unit: " (activation)" });
    cv.setAttribute("aria-label", `FFN activations, ${tokens.length} tokens by ${units.length} units`);
    clear(lab).append(...tokens.map((t, i) => h("span", { class: i === token ? "picked" : "", text: t.text })));
    cv.style.height = `${Math.min(26 * tokens.length, 380)}px`;
    lab.style.height = cv.style.height;
  }

  function render() {
    const v = state.viewed;
    if (!v) return;
    if (document.activeElement !== input && input.value !== state.sentence) input.value = state.sentence;
    if (!v.ffn) {
      summary.textContent = state.session && !state.session.config.use_ffn
        ? "This model has no FFN (switched off in its config)." : "No FFN units for this step.";
      unlabel(note);
      note.textContent = "";
      return;
    }
    const { ffn: values, tokens } = v;
    const T = tokens.length;
    const F = values[0].length;
    const silent = silentUnits(values);
    const token = Math.min(state.selectedToken ?? 0, T - 1);
    const units = order(values, sortBy, token).slice(0, LIMITS.ffnUnits);
    const b = state.contrast !== "off" && state.baseline && state.baseline.ffn
      && state.baseline.tokens.length === T ? state.baseline : null;
    const hi = Math.max(...values.flat(), ...(b ? b.ffn.flat() : []), 1e-6);
    draw(canvas, labels, values, tokens, units, hi, token);
    map0.hidden = !b;
    canvas0.hidden = !b;
    labels0.hidden = !b;
    summary0.hidden = !b;
    if (b) {
      draw(canvas0, labels0, b.ffn, tokens, units, hi, token);
      const s0 = silentUnits(b.ffn);
      summary0.textContent = `Step 0 (random weights, top): ${s0} of ${F} units (${pct(s0 / F)}) never fire; ` +
        `per token ${num(avgActive(b.ffn), 3)} fire. Same unit order in both maps.`;
    }
    summary.textContent = `${silent} of ${F} units (${pct(silent / F)}) never fire on this sentence; ` +
      `per token, ${num(avgActive(values), 3)} units fire on average.`;
    summary.dataset.silent = String(silent);
    summary.dataset.units = String(F);
    const shown = units.length < F ? `Showing ${units.length} of ${F} units, ` : `All ${F} units, `;
    labelStep(note, v.step, (k) => `${shown}sorted by ${sortSel.selectedOptions[0].text}; ` +
      `${v.live ? "model" : "stored model"} at step ${k}. Below 0 is drawn as 0.${v.note ? ` ${v.note}` : ""}`);
    legend.replaceChildren(h("span", { text: "0" }),
      h("span", { class: "bar", style: `background:${gradient(viridis)}` }), h("span", { text: num(hi, 2) }),
      h("span", { class: "muted small", text: " activation" }));
    toggle.set(state.contrast === "diff" ? "side" : state.contrast);
  }

  subscribe(["sentence"], () => {
    if (document.activeElement !== input) input.value = state.sentence;
  });
  subscribe(["viewed", "baseline", "contrast"], render);
  subscribe(["selectedToken"], () => sortBy === "token" && render());
  return { render };
}
