// Attention view: the sentence as tokens; pick one and see how much it attends to each earlier
// token, per head and averaged, as a table heatmap and as arcs over the sentence.
import { api } from "../api.js";
import { DEFAULTS, TIMING } from "../config.js";
import { state, subscribe, update } from "../state.js";
import { css, ink, viridis } from "../util/color.js";
import { clear, debounce, h, s, throttle } from "../util/dom.js";
import { fixed, num } from "../util/format.js";
import { drawHeatmap } from "../util/heatmap.js";

export function attentionFrom(result) {
  if (result.attention) return result.attention;
  const stage = (result.stages || []).find((st) => st.name === "blocks.0.attn.hook_weights");
  return stage ? stage.values : null;
}

// Stream messages carry tokens as vocabulary strings; /forward and snapshots as {text, id, unknown}.
export function asTokens(tokens) {
  return tokens.map((t) => (typeof t === "string" ? { text: t, id: null, unknown: t === "<unk>" } : t));
}

function averageHeads(att, i) {
  const H = att.length;
  return att[0][i].map((_, j) => att.reduce((sum, head) => sum + head[i][j], 0) / H);
}

function entropyBits(row) {
  return -row.reduce((sum, p) => (p > 0 ? sum + p * Math.log2(p) : sum), 0);
}

export function createAttentionView(root, { onError, isVisible }) {
  let data = null; // {step, tokens, attention, source}
  let inflight = null;
  let pickDefault = true;
  let shownKey = null; // tokens + pick of the table on screen
  let centres = null; // measured chip centres for the arcs
  let lastStreamAt = 0;
  const input = h("input", { type: "text", id: "att-sentence", "aria-label": "Sentence to look at",
    spellcheck: "false", autocomplete: "off" });
  const probeBtn = h("button", { type: "button", class: "small", text: "Use probe sentence",
    onclick: () => update({ sentence: state.session.probe }) });
  const source = h("span", { class: "muted", id: "att-source" });
  const arcs = s("svg", { class: "arcs", "aria-hidden": "true" });
  const chips = h("div", { class: "chips", role: "listbox", "aria-label": "Tokens; pick one" });
  const table = h("div", { class: "att-table", id: "att-table" });
  const spread = h("p", { class: "muted small", id: "att-spread" });
  const whichHead = h("select", { id: "att-head", "aria-label": "Head for the whole pattern" });
  const matrix = h("canvas", { class: "heat square", id: "att-matrix", role: "img",
    "aria-label": "Whole attention pattern: rows attend to columns" });
  const whole = h("div", { class: "att-whole" }, matrix,
    h("div", {}, h("h4", { text: "The whole pattern" }), whichHead,
      h("p", { class: "hint", text: "Row: the token that looks. Column: the token it looks at. " +
        "Above the diagonal is the future, always 0." })));
  root.append(
    h("div", { class: "row" }, h("label", { for: "att-sentence", text: "Sentence" }), input, probeBtn),
    h("p", { class: "hint", text: "Pick a token. Each row shows how much of its attention goes to each earlier token " +
      "(rows sum to 1). Attention never looks ahead." }),
    h("div", { class: "sentence" }, arcs, chips),
    source, table, spread, whole,
  );
  whichHead.addEventListener("change", () => data && renderMatrix());
  window.addEventListener("resize", () => {
    centres = null;
  });

  input.addEventListener("input", debounce(() => update({ sentence: input.value }), 400));

  async function fetchForward() {
    if (!state.session || !state.sentence.trim()) return;
    if (!state.session.config.use_attention) return showOff();
    if (inflight) inflight.abort();
    inflight = new AbortController();
    try {
      const r = await api.forward(state.session.id, state.sentence,
        { stages: ["blocks.0.attn.hook_weights"], signal: inflight.signal });
      setData({ step: r.step, tokens: r.tokens, attention: attentionFrom(r), source: "forward", notice: r.notice });
    } catch (err) {
      if (err.name !== "AbortError") onError(err, "att-sentence");
    }
  }
  const refresh = throttle(fetchForward, TIMING.liveRefreshMs);

  function setData(d) {
    data = d;
    const T = d.tokens.length;
    if (pickDefault || state.selectedToken === null || state.selectedToken >= T) {
      pickDefault = false;
      const want = d.tokens.map((t) => t.text).lastIndexOf(DEFAULTS.word);
      update({ selectedToken: want >= 0 ? want : T - 1 });
    }
    render();
  }

  function renderChips() {
    clear(chips);
    data.tokens.forEach((tok, i) => {
      const sel = i === state.selectedToken;
      chips.append(h("button", { type: "button", class: `chip${sel ? " selected" : ""}${tok.unknown ? " unknown" : ""}`,
        role: "option", "aria-selected": String(sel), "data-index": i,
        title: tok.unknown ? `"${tok.text}" is not in the vocabulary: the model sees <unk>`
          : `token ${i}${tok.id === null ? "" : `: id ${tok.id}`}`,
        text: tok.text, onclick: () => update({ selectedToken: i }) }));
    });
  }

  function rowsFor(i) {
    const att = data.attention;
    return [["average", averageHeads(att, i)], ...att.map((head, k) => [`head ${k}`, head[i]])];
  }

  function renderTable(i) {
    const rows = rowsFor(i);
    const head = h("tr", {}, h("th", { text: `"${data.tokens[i].text}" →` }),
      ...data.tokens.map((t, j) => h("th", { class: j > i ? "masked" : "", text: t.text })));
    const body = rows.map(([name, row], r) => h("tr", { "data-row": r === 0 ? "avg" : String(r - 1) },
      h("th", { text: name }),
      ...row.map((v, j) => cell(v, j > i, r === 0 ? "avg" : r - 1, j))));
    clear(table).append(h("table", {}, h("thead", {}, head), h("tbody", {}, ...body)));
    return rows[0][1];
  }

  function cell(v, masked, headIdx, j) {
    if (masked) return h("td", { class: "masked", title: "a later token: the causal mask hides it", text: "·" });
    const td = h("td", { "data-head": String(headIdx), "data-col": j });
    return paint(td, v);
  }

  function paint(td, v) {
    const bg = viridis(v);
    const headIdx = td.dataset.head;
    td.dataset.value = String(v);
    td.textContent = fixed(v, 2);
    td.title = `${headIdx === "avg" ? "average over heads" : `head ${headIdx}`} → "${data.tokens[td.dataset.col].text}": ${num(v, 4)}`;
    td.style.background = css(bg);
    td.style.color = ink(bg);
    return td;
  }

  // Same tokens, same pick: new numbers into the cells already there (no rebuild, no re-layout).
  function updateTable(i) {
    const rows = rowsFor(i);
    table.querySelectorAll("tbody tr").forEach((tr, r) => {
      for (const td of tr.querySelectorAll("td[data-value]")) paint(td, rows[r][1][Number(td.dataset.col)]);
    });
    return rows[0][1];
  }

  // Chip centres are measured once per chip layout (a measurement forces a layout).
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
    const centre = (j) => centres.xs[j];
    arcs.setAttribute("viewBox", `0 0 ${Math.max(centres.width, 1)} 48`);
    clear(arcs);
    const x0 = centre(i);
    avg.forEach((w, j) => {
      if (j > i || w < 0.01) return;
      const x1 = centre(j);
      const lift = j === i ? 0 : Math.min(44, 12 + Math.abs(x0 - x1) / 5);
      const d = j === i ? `M${x0 - 6},46 q6,-16 12,0` : `M${x0},47 Q${(x0 + x1) / 2},${47 - lift * 2} ${x1},47`;
      arcs.append(s("path", { d, class: "arc", "stroke-width": (1 + 7 * w).toFixed(2),
        "stroke-opacity": (0.25 + 0.75 * w).toFixed(2) }));
    });
  }

  function renderMatrix() {
    const att = data.attention;
    const H = att.length;
    if (whichHead.options.length !== H + 1) {
      whichHead.replaceChildren(h("option", { value: "avg", text: "average over heads" }),
        ...att.map((_, k) => h("option", { value: k, text: `head ${k}` })));
    }
    const T = data.tokens.length;
    const m = whichHead.value === "avg" || whichHead.value === ""
      ? Array.from({ length: T }, (_, i) => averageHeads(att, i))
      : att[Number(whichHead.value)];
    const label = (i) => `"${data.tokens[i].text}"`;
    drawHeatmap(matrix, m, { range: [0, 1], rowLabel: (i) => `${label(i)} looks`, colLabel: (j) => `at ${label(j)}` });
  }

  function showOff() {
    data = null;
    shownKey = null;
    for (const node of [chips, table, arcs]) clear(node);
    spread.textContent = "";
    whole.hidden = true;
    source.textContent = "This session has attention switched off (use_attention = false): " +
      "no token can look at another. Start one with attention in Settings to compare.";
  }

  function render() {
    if (!data) return;
    if (!data.attention) return showOff();
    whole.hidden = false;
    if (input.value !== state.sentence && document.activeElement !== input) input.value = state.sentence;
    const i = Math.min(state.selectedToken ?? 0, data.tokens.length - 1);
    const key = `${i}|${data.attention.length}|${data.tokens.map((t) => t.text).join("\u0001")}`;
    let avg;
    if (key === shownKey && table.querySelector("tbody")) avg = updateTable(i);
    else {
      renderChips();
      avg = renderTable(i);
      shownKey = key;
      centres = null;
    }
    requestAnimationFrame(() => renderArcs(i, avg));
    renderMatrix();
    const where = data.source === "snapshot" ? `stored snapshot at step ${data.step}` : `model at step ${data.step}`;
    source.textContent = `${data.attention.length} heads · ${where}${data.notice ? ` · ${data.notice}` : ""}`;
    const T = i + 1;
    spread.textContent = `Spread of the average row: ${num(entropyBits(avg), 3)} bits ` +
      `(${num(Math.log2(T), 3)} bits would be even attention over ${T} tokens; lower means sharper).`;
  }

  function showSnapshot(snap) {
    const probe = snap.probe;
    if (state.sentence !== state.session.probe) update({ sentence: state.session.probe });
    setData({ step: snap.step, tokens: asTokens(probe.tokens), attention: probe.attention, source: "snapshot" });
  }

  // A live `attention` message: the probe sentence at some step (drawn at most once a second,
  // and only while this view is visible).
  const drawStream = throttle((msg) => {
    if (state.scrub || state.sentence !== state.session.probe || !isVisible()) return;
    setData({ step: msg.step, tokens: asTokens(msg.tokens), attention: msg.attention, source: "live" });
  }, TIMING.attentionRenderMs);

  function onStream(msg) {
    if (state.scrub || state.sentence !== state.session.probe) return;
    lastStreamAt = performance.now();
    drawStream(msg);
  }

  subscribe(["sentence"], () => {
    input.value = state.sentence;
    pickDefault = true;
    if (!state.scrub) fetchForward();
  });
  subscribe(["selectedToken"], () => data && render());
  subscribe(["scrub"], () => (state.scrub ? showSnapshot(state.scrub.snapshot) : fetchForward()));
  subscribe(["step"], () => {
    const streamed = performance.now() - lastStreamAt < 2 * TIMING.liveRefreshMs;
    if (!state.scrub && isVisible() && !(streamed && state.sentence === state.session.probe)) refresh();
  });
  return { onStream, refresh: fetchForward, render, get data() { return data; } };
}
