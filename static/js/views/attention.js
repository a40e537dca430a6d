// Attention view: the sentence as tokens; pick one and see how much it attends to each earlier
// token, per head and averaged, as a table heatmap and as arcs over the sentence, plus the whole
// pattern. It draws `state.viewed` (the viewed step) and, for "step 0 vs now", `state.baseline`.
import { DEFAULTS } from "../config.js";
import { averageHeads, entropyBits } from "../focus.js";
import { state, subscribe } from "../state.js";
import { blueOrange, css, gradient, ink, viridis } from "../util/color.js";
import { clear, debounce, h, s } from "../util/dom.js";
import { fixed, num } from "../util/format.js";
import { drawHeatmap } from "../util/heatmap.js";
import { labelStep, unlabel } from "../util/steps.js";
import { contrastToggle } from "./contrast.js";


// intents: {onSentence(text), onSelectToken(i), onProbe(), onContrast(mode), onSeedWord()}
export function createAttentionView(root, intents) {
  let shownKey = null; // tokens + pick + contrast of the table on screen
  let centres = null; // measured chip centres for the arcs
  const input = h("input", { type: "text", id: "att-sentence", "aria-label": "Sentence to look at",
    spellcheck: "false", autocomplete: "off" });
  const probeBtn = h("button", { type: "button", class: "small", text: "Use probe sentence", onclick: intents.onProbe });
  const seedBtn = h("button", { type: "button", class: "small", id: "att-seed-word", text: `the seed's "${DEFAULTS.word}"`,
    title: `Look at "${DEFAULTS.word}", the word the seed document asks about`, onclick: intents.onSeedWord });
  const picked = h("span", { class: "muted small", id: "att-picked" });
  const preds = h("div", { class: "preds", id: "att-preds", "aria-live": "polite" });
  const source = h("span", { class: "muted", id: "att-source" });
  const arcs = s("svg", { class: "arcs", "aria-hidden": "true" });
  const chips = h("div", { class: "chips", role: "listbox", "aria-label": "Tokens; pick one" });
  const table = h("div", { class: "att-table", id: "att-table" });
  const baseTable = h("div", { class: "att-table baseline", id: "att-table-0" });
  const spread = h("p", { class: "muted small", id: "att-spread" });
  const whichHead = h("select", { id: "att-head", "aria-label": "Head for the whole pattern" });
  const matrix = h("canvas", { class: "heat square", id: "att-matrix", role: "img",
    "aria-label": "Whole attention pattern: rows attend to columns" });
  const matrix0 = h("canvas", { class: "heat square", id: "att-matrix-0", role: "img", hidden: true,
    "aria-label": "Whole attention pattern at step 0" });
  const matrixNote = h("p", { class: "hint", id: "att-matrix-note" });
  const matrixBar = h("div", { class: "legend", id: "att-matrix-bar" });
  const axes = h("div", { class: "heat-axes" },
    h("span", { class: "axis y", text: "token that looks ↓" }), h("div", { class: "pair" }, matrix0, matrix),
    h("span", {}), h("span", { class: "axis", text: "token it looks at →" }), h("span", {}), matrixBar);
  const whole = h("div", { class: "att-whole" }, axes,
    h("div", {}, h("h4", { text: "The whole pattern" }), whichHead, matrixNote,
      h("p", { class: "hint", text: "Row: the token that looks. Column: the token it looks at. " +
        "Above the diagonal is the future, always 0." })));
  const toggle = contrastToggle("att-contrast", intents.onContrast);
  root.append(
    h("div", { class: "row" }, h("label", { for: "att-sentence", text: "Sentence" }), input, probeBtn),
    h("p", { class: "hint", text: "Pick a token. Each row shows how much of its attention goes to each earlier token " +
      "(rows sum to 1). Attention never looks ahead." }),
    h("div", { class: "sentence" }, arcs, chips),
    h("div", { class: "row" }, picked, seedBtn),
    h("div", { class: "row" }, source), h("div", { class: "row" }, toggle.el), baseTable, table, spread, preds, whole,
  );
  whichHead.addEventListener("change", () => state.viewed && renderMatrix());
  window.addEventListener("resize", () => {
    centres = null;
  });
  input.addEventListener("input", debounce(() => intents.onSentence(input.value), 400));

  function renderChips(tokens) {
    clear(chips);
    tokens.forEach((tok, i) => {
      const sel = i === state.selectedToken;
      chips.append(h("button", { type: "button", class: `chip${sel ? " selected" : ""}${tok.unknown ? " unknown" : ""}`,
        role: "option", "aria-selected": String(sel), "data-index": i,
        title: tok.unknown ? `"${tok.text}" is not in the vocabulary: the model sees <unk>`
          : `token ${i}${tok.id === null ? "" : `: id ${tok.id}`}`,
        text: tok.text, onclick: () => intents.onSelectToken(i) }));
    });
  }

  function rowsFor(att, i) {
    return [["average", averageHeads(att, i)], ...att.map((head, k) => [`head ${k}`, head[i]])];
  }

  // One table: the picked token's row per head; `diff` paints signed changes instead of weights.
  function fillTable(node, tokens, rows, i, { caption, diff = false }) {
    const head = h("tr", {}, h("th", { text: `"${tokens[i].text}" →` }),
      ...tokens.map((t, j) => h("th", { class: j > i ? "masked" : "", text: t.text })));
    const body = rows.map(([name, row], r) => h("tr", { "data-row": r === 0 ? "avg" : String(r - 1) },
      h("th", { text: name }),
      ...row.map((v, j) => cell(tokens, v, j > i, r === 0 ? "avg" : r - 1, j, diff))));
    clear(node).append(h("table", {}, caption ? h("caption", { text: caption }) : null,
      h("thead", {}, head), h("tbody", {}, ...body)));
  }

  function cell(tokens, v, masked, headIdx, j, diff) {
    if (masked) return h("td", { class: "masked", title: "a later token: the causal mask hides it", text: "·" });
    const td = h("td", { "data-head": String(headIdx), "data-col": j, "data-value": String(v) });
    const bg = diff ? blueOrange(Math.max(-1, Math.min(1, v))) : viridis(v);
    td.textContent = diff ? `${v >= 0 ? "+" : "−"}${fixed(Math.abs(v), 2)}` : fixed(v, 2);
    td.title = `${headIdx === "avg" ? "average over heads" : `head ${headIdx}`} → "${tokens[j].text}": ${num(v, 4)}`;
    td.style.background = css(bg);
    td.style.color = ink(bg);
    return td;
  }

  function measure() {
    const box = chips.getBoundingClientRect();
    const xs = [...chips.children].map((c) => {
      const r = c.getBoundingClientRect();
      return r.left - box.left + r.width / 2;
    });
    return { width: box.width, xs };
  }

  function renderArcs(i, avg) {
    if (!centres) {
      const m = measure();
      if (!m.width) return; // not on screen (another tab): measure when shown
      centres = m;
    }
    arcs.setAttribute("viewBox", `0 0 ${Math.max(centres.width, 1)} 48`);
    clear(arcs);
    const x0 = centres.xs[i];
    avg.forEach((w, j) => {
      if (j > i || w < 0.01) return;
      const x1 = centres.xs[j];
      const lift = j === i ? 0 : Math.min(44, 12 + Math.abs(x0 - x1) / 5);
      const d = j === i ? `M${x0 - 6},46 q6,-16 12,0` : `M${x0},47 Q${(x0 + x1) / 2},${47 - lift * 2} ${x1},47`;
      arcs.append(s("path", { d, class: "arc", "stroke-width": (1 + 7 * w).toFixed(2),
        "stroke-opacity": (0.25 + 0.75 * w).toFixed(2) }));
    });
  }

  function pattern(att, T) {
    return whichHead.value === "avg" || whichHead.value === ""
      ? Array.from({ length: T }, (_, i) => averageHeads(att, i))
      : att[Number(whichHead.value)];
  }

  function renderMatrix() {
    const v = state.viewed;
    const att = v.attention;
    if (whichHead.options.length !== att.length + 1) {
      whichHead.replaceChildren(h("option", { value: "avg", text: "average over heads" }),
        ...att.map((_, k) => h("option", { value: k, text: `head ${k}` })));
    }
    const T = v.tokens.length;
    const label = (i) => `"${v.tokens[i].text}"`;
    const opts = { rowLabel: (i) => `${label(i)} looks`, colLabel: (j) => `at ${label(j)}` };
    const base = baselineFor(v);
    const m = pattern(att, T);
    matrix0.hidden = !(base && state.contrast === "side");
    const diffMode = Boolean(base && state.contrast === "diff");
    matrixBar.replaceChildren(h("span", { text: diffMode ? "−1" : "0" }),
      h("span", { class: "bar", style: `background:${diffMode ? gradient(blueOrange, true) : gradient(viridis)}` }),
      h("span", { text: "1" }), h("span", { class: "muted", text: diffMode ? " change in weight" : " attention weight" }));
    if (diffMode) {
      const m0 = pattern(base.attention, T);
      drawHeatmap(matrix, m.map((row, i) => row.map((x, j) => x - m0[i][j])), { ...opts, diverging: true, range: [-1, 1] });
      matrixNote.textContent = `Step ${v.step} minus step 0: orange = more attention than at the start, blue = less.`;
      return;
    }
    drawHeatmap(matrix, m, { ...opts, range: [0, 1] });
    if (base && state.contrast === "side") {
      drawHeatmap(matrix0, pattern(base.attention, T), { ...opts, range: [0, 1] });
      matrixNote.textContent = `Left: step 0 (random weights). Right: step ${v.step}.`;
    } else matrixNote.textContent = "";
  }

  // The step-0 data when it is for the same tokens as the viewed data.
  function baselineFor(v) {
    const b = state.baseline;
    if (state.contrast === "off" || !b || !b.attention) return null;
    const same = b.tokens.length === v.tokens.length && b.tokens.every((t, i) => t.text === v.tokens[i].text);
    return same ? b : null;
  }

  function showOff() {
    shownKey = null;
    for (const node of [chips, table, baseTable, arcs]) clear(node);
    spread.textContent = "";
    whole.hidden = true;
    unlabel(source);
    source.textContent = "This session has attention switched off (use_attention = false): " +
      "no token can look at another. Start one with attention in Settings to compare.";
  }

  function render() {
    const v = state.viewed;
    if (!v) return;
    if (document.activeElement !== input && input.value !== state.sentence) input.value = state.sentence;
    if (!v.attention) return showOff();
    whole.hidden = false;
    const i = Math.min(state.selectedToken ?? 0, v.tokens.length - 1);
    const key = `${i}|${v.tokens.map((t) => t.text).join("\u0001")}`;
    if (key !== shownKey) {
      renderChips(v.tokens);
      shownKey = key;
      centres = null;
    }
    const rows = rowsFor(v.attention, i);
    const base = baselineFor(v);
    if (base && state.contrast === "diff") {
      const rows0 = rowsFor(base.attention, i);
      fillTable(table, v.tokens, rows.map(([n, row], r) => [n, row.map((x, j) => x - rows0[r][1][j])]), i,
        { caption: `change from step 0 to step ${v.step}`, diff: true });
      clear(baseTable);
    } else {
      fillTable(table, v.tokens, rows, i, { caption: base ? `step ${v.step}` : null });
      if (base) fillTable(baseTable, v.tokens, rowsFor(base.attention, i), i, { caption: "step 0 (random weights)" });
      else clear(baseTable);
    }
    const avg = rows[0][1];
    requestAnimationFrame(() => renderArcs(i, avg));
    renderMatrix();
    const where = v.live ? "model" : "stored model";
    labelStep(source, v.step, (k) => `${v.attention.length} heads · ${where} at step ${k}${v.note ? ` · ${v.note}` : ""}`);
    picked.textContent = state.tokenPicked ? `You picked "${v.tokens[i].text}".`
      : `Picked for you: "${v.tokens[i].text}", the token whose attention is most focused at this step.`;
    renderPredictions(v, i);
    const T = i + 1;
    spread.textContent = `Spread of the average row: ${num(entropyBits(avg), 3)} bits ` +
      `(${num(Math.log2(T), 3)} bits would be even attention over ${T} tokens; lower means sharper).`;
    toggle.set(state.contrast);
  }

  // The model's top-5 guesses for the token after the picked one, at the viewed step.
  function renderPredictions(v, i) {
    const top = v.predictions && v.predictions[i];
    if (!top) return preds.replaceChildren();
    const bars = top.map((p) => h("div", { class: "pred", "data-token": p.token, "data-prob": String(p.prob) },
      h("span", { class: "pred-token", text: p.token }),
      h("span", { class: "pred-track" }, h("span", { class: "pred-fill", style: `width:${(100 * p.prob).toFixed(1)}%` })),
      h("span", { class: "pred-num", text: `${(100 * p.prob).toFixed(1)} %` })));
    const title = h("h4", { id: "att-preds-title" });
    labelStep(title, v.step, (k) => `After "${v.tokens[i].text}", the ${v.live ? "model" : "stored model"} at step ${k} predicts`);
    preds.replaceChildren(title, ...bars);
  }

  subscribe(["sentence"], () => {
    if (document.activeElement !== input) input.value = state.sentence;
  });
  subscribe(["viewed", "selectedToken", "baseline", "contrast", "tokenPicked"], render);
  return { render };
}
