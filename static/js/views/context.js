// What attention adds: the same word in two sentences. With attention its vector after the first
// block (its resid_post hook point) depends on the earlier words; a real FFN-only model (same config and
// seed, attention switched off, trained the same number of steps) gives the same vector in both.
// This view draws the result; the controller owns the FFN-only companion session and its runs.
import { DEFAULTS } from "../config.js";
import { blueOrange, css } from "../util/color.js";
import { clear, h } from "../util/dom.js";
import { num } from "../util/format.js";
import { distances } from "../vectors.js";

// intents: {onRun({word, a, b}), onStop()}
export function createContextView(root, intents) {
  let busy = false;
  const word = h("input", { type: "text", id: "ctx-word", value: DEFAULTS.word, size: 8, "aria-label": "Word" });
  const a = h("input", { type: "text", id: "ctx-a", value: DEFAULTS.sentenceA, "aria-label": "Sentence A" });
  const b = h("input", { type: "text", id: "ctx-b", value: DEFAULTS.sentenceB, "aria-label": "Sentence B" });
  const go = h("button", { type: "button", id: "ctx-run", class: "primary", text: "Compare the two vectors" });
  const out = h("div", { id: "ctx-result", class: "ctx-result", "aria-live": "polite" });
  root.append(
    h("p", { class: "hint", text: "The same word in two sentences. After attention and the FFN, is its vector the same?" }),
    h("div", { class: "form-grid ctx-form" },
      h("label", { for: "ctx-word", text: "Word" }), word,
      h("label", { for: "ctx-a", text: "Sentence A" }), a,
      h("label", { for: "ctx-b", text: "Sentence B" }), b),
    h("div", { class: "row" }, go,
      h("span", { class: "muted small", text: "FFN-only side: a second real model, attention switched off, same seed, " +
        "trained as many steps as this one." })),
    out,
  );
  go.addEventListener("click", () => (busy ? intents.onStop() : intents.onRun(request())));

  const request = () => ({ word: word.value.trim().toLowerCase(), a: a.value, b: b.value });

  function setBusy(on) {
    busy = on;
    go.textContent = on ? "Stop" : "Compare the two vectors";
  }

  function strip(vec) {
    const c = h("canvas", { class: "strip", width: Math.min(vec.length, 256), height: 1, role: "img",
      "aria-label": `vector of ${vec.length} numbers` });
    const ctx = c.getContext("2d");
    const m = Math.max(...vec.map(Math.abs), 1e-6);
    for (let i = 0; i < c.width; i += 1) {
      ctx.fillStyle = css(blueOrange(vec[i] / m));
      ctx.fillRect(i, 0, 1, 1);
    }
    return c;
  }

  function rowFor(label, pair, cls) {
    const d = distances(pair[0].vec, pair[1].vec);
    return h("tr", { class: cls, "data-distance": String(d.euclid) },
      h("th", { scope: "row" }, label, h("div", { class: "muted small", text: `step ${pair[0].step}` })),
      h("td", {}, h("div", { class: "strips" }, h("span", { text: "A" }), strip(pair[0].vec),
        h("span", { text: "B" }), strip(pair[1].vec))),
      h("td", { class: "num", text: num(d.euclid, 3),
        title: `${num(100 * d.relative, 3)} % of the vector's length` }),
      h("td", { class: "num", text: num(d.cosine, 3) }));
  }

  // What each model guesses comes after the word, in each sentence: the FFN-only model's guesses
  // are the same in A and B (it cannot see the words before), attention + FFN's may differ.
  function predictions(w, withAtt, ffnOnly) {
    const top = (x) => x.next.slice(0, 3).map((p) => `${p.token} ${(100 * p.prob).toFixed(0)} %`).join(", ");
    const row = (label, pair, cls) => h("tr", { class: cls }, h("th", { scope: "row", text: label }),
      h("td", { class: "next", text: top(pair[0]) }), h("td", { class: "next", text: top(pair[1]) }));
    return h("table", { class: "ctx-table ctx-next", id: "ctx-next" },
      h("thead", {}, h("tr", {}, h("th", { text: `next word after "${w}"` }), h("th", { text: "in A" }), h("th", { text: "in B" }))),
      h("tbody", {}, row("attention + FFN", withAtt, "next-with-attention"), ffnOnly ? row("FFN only", ffnOnly, "next-ffn-only") : null));
  }

  function render(w, withAtt, ffnOnly) {
    const rows = [rowFor("attention + FFN (this session)", withAtt, "with-attention")];
    if (ffnOnly) rows.push(rowFor("FFN only (attention off)", ffnOnly, "ffn-only"));
    const table = h("table", { class: "ctx-table" },
      h("thead", {}, h("tr", {}, h("th", { text: "model" }), h("th", { text: `"${w}" after the block (first 256 numbers)` }),
        h("th", { text: "distance ‖A−B‖" }), h("th", { text: "cosine distance" }))),
      h("tbody", {}, ...rows));
    const notes = [];
    if (withAtt[0].idx !== withAtt[1].idx) {
      notes.push(`"${w}" sits at position ${withAtt[0].idx} in A and ${withAtt[1].idx} in B, so position alone ` +
        "already changes its vector, even without attention. Put it at the same position to see context alone.");
    }
    if (withAtt.some((x) => x.unknown)) notes.push(`"${w}" is not in the vocabulary: both models see <unk>.`);
    if (ffnOnly) {
      notes.push("Without attention, each token's vector is computed from that token and its position only, " +
        "so the words before it cannot change it. With attention, they do: that is what attention hands the FFN.");
    } else notes.push("This session has attention switched off, so it cannot tell the two contexts apart.");
    clear(out).append(table, predictions(w, withAtt, ffnOnly), ...notes.map((t) => h("p", { class: "small", text: t })));
  }

  return { render, setBusy, request };
}
