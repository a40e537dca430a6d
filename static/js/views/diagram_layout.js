// Pure geometry of the flow diagram, computed from a session's config and shapes. No DOM.
// Nodes carry text and hover notes; edges carry a forward-order `stage` and the parameter whose
// gradient they show on the way back.
import { DIAGRAM } from "../config.js";
import { shape, times } from "../util/format.js";

const Y = DIAGRAM.flowY;
const WW = DIAGRAM.weight.w;
const WH = DIAGRAM.weight.h;

const ROLE = {
  W_q: "query projection: what each token looks for",
  W_k: "key projection: what each token offers to be found by",
  W_v: "value projection: what each token hands over when attended to",
  W_o: "output projection: mixes the heads back into one d-wide vector",
  W_1: "first FFN layer: each token's vector to d_ff hidden units",
  W_2: "second FFN layer: hidden units back to a d-wide vector",
};

function weightNode(block, part, name, x, y, shapes) {
  const param = `blocks.${block}.${part}.${name}.weight`;
  const stored = shapes[param] || [0, 0];
  const math = [stored[1], stored[0]]; // nn.Linear stores (out, in); the math reads x · W (in × out)
  const symbolic = name === "W_1" ? "d × d_ff" : name === "W_2" ? "d_ff × d" : "d × d";
  return {
    id: `w-${name}`, kind: "weight", param, x, y, w: WW, h: WH, name, math, symbolic,
    title: `${name}, ${ROLE[name]}.\nMath shape ${symbolic} = ${times(math)}; ` +
      `stored as (out, in) = ${shape(stored)} in PyTorch's nn.Linear.\n` +
      `Its own weights, started random (normal, std 0.02) and trained by backprop.\n` +
      `Click for its heatmap, histogram and history.`,
  };
}

function attentionPart(x0, shapes, cfg, nodes, edges, stage) {
  const group = { id: "g-attn", kind: "group", x: x0, y: 58, w: 200, h: 176,
    label: "Attention", sub: "own weights, random at start", off: !cfg.use_attention,
    title: "Multi-head causal self-attention: every token mixes in the tokens before it." };
  nodes.push(group);
  if (!cfg.use_attention) {
    edges.push({ id: "e-attn-bypass", d: `M${x0},${Y} H${x0 + 200}`, stage, param: null });
    return { right: x0 + 200, stage: stage + 1 };
  }
  const wx = x0 + 10;
  const ys = [Y - 57, Y - 17, Y + 23];
  ["W_q", "W_k", "W_v"].forEach((name, i) => {
    nodes.push(weightNode(0, "attn", name, wx, ys[i], shapes));
    edges.push({ id: `e-in-${name}`, d: `M${x0 - 8},${Y} C${x0},${Y} ${x0},${ys[i] + WH / 2} ${wx},${ys[i] + WH / 2}`,
      stage, param: `blocks.0.attn.${name}.weight` });
  });
  const mx = x0 + 98;
  nodes.push({ id: "mix", kind: "mix", x: mx, y: Y, r: 9, label: "softmax(QKᵀ)·V", labelAt: [x0 + 153, Y + 36],
    title: "The attention pattern softmax(QKᵀ/√d_head) is computed fresh for every sentence.\n" +
      "It is not a parameter, and it is not handed to the FFN: only the output below is." });
  ["W_q", "W_k", "W_v"].forEach((name, i) => {
    edges.push({ id: `e-${name}-mix`, d: `M${wx + WW},${ys[i] + WH / 2} C${mx - 6},${ys[i] + WH / 2} ${mx - 8},${Y} ${mx - 9},${Y}`,
      stage: stage + 1, param: `blocks.0.attn.${name}.weight` });
  });
  const ox = x0 + 116;
  nodes.push(weightNode(0, "attn", "W_o", ox, Y - WH / 2, shapes));
  edges.push({ id: "e-mix-W_o", d: `M${mx + 9},${Y} H${ox}`, stage: stage + 2, param: "blocks.0.attn.W_o.weight" });
  edges.push({ id: "e-attn-out", d: `M${ox + WW},${Y} H${x0 + 200}`, stage: stage + 3, param: "blocks.0.attn.W_o.weight" });
  return { right: x0 + 200, stage: stage + 4 };
}

function ffnPart(x0, shapes, cfg, nodes, edges, stage) {
  const group = { id: "g-ffn", kind: "group", x: x0, y: 58, w: 196, h: 176,
    label: "Feed-forward (FFN)", sub: "own weights, random at start", off: !cfg.use_ffn,
    title: "The FFN works on each token on its own; it sees other tokens only through what attention mixed in." };
  nodes.push(group);
  if (!cfg.use_ffn) {
    edges.push({ id: "e-ffn-bypass", d: `M${x0},${Y} H${x0 + 196}`, stage, param: null });
    return { right: x0 + 196, stage: stage + 1 };
  }
  const w1 = weightNode(0, "ffn", "W_1", x0 + 10, Y - WH / 2, shapes);
  const ax = x0 + 98;
  const w2 = weightNode(0, "ffn", "W_2", x0 + 112, Y - WH / 2, shapes);
  nodes.push(w1, w2, { id: "act", kind: "mix", x: ax, y: Y, r: 9, label: cfg.activation.toUpperCase(),
    title: `${cfg.activation.toUpperCase()} activation: the non-linearity between W_1 and W_2 (no weights).` });
  edges.push(
    { id: "e-ffn-in", d: `M${x0 - 8},${Y} H${x0 + 10}`, stage, param: w1.param },
    { id: "e-W_1-act", d: `M${x0 + 10 + WW},${Y} H${ax - 9}`, stage: stage + 1, param: w1.param },
    { id: "e-act-W_2", d: `M${ax + 9},${Y} H${x0 + 112}`, stage: stage + 2, param: w2.param },
    { id: "e-ffn-out", d: `M${x0 + 112 + WW},${Y} H${x0 + 196}`, stage: stage + 3, param: w2.param },
  );
  return { right: x0 + 196, stage: stage + 4 };
}

function lnNode(id, x, title, w = 26) {
  return { id, kind: "ln", x, y: Y - 11, w, h: 22, label: "LN", title };
}

export function layout(session) {
  const cfg = session.config;
  const shapes = session.shapes || {};
  const [B, T, d] = session.batch_shape || [0, 0, cfg.d_model];
  const pre = cfg.norm === "pre";
  const post = cfg.norm === "post";
  const nodes = [];
  const edges = [];
  const act = shape([B, T, d]);
  nodes.push({ id: "input", kind: "box", x: 4, y: Y - 40, w: 86, h: 80, lines: ["Input", "embeddings", "(B, T, d)", act],
    title: `Token + position embeddings for a batch: (batch B, sequence T, width d) = ${act}.` });
  let stage = 0;
  edges.push({ id: "e-input", d: `M90,${Y} H${pre ? 96 : 122}`, stage, param: "tok_emb.weight" });
  if (pre) {
    nodes.push(lnNode("ln-attn", 96, "LayerNorm before attention (pre-norm)."));
    edges.push({ id: "e-ln-attn", d: `M122,${Y} H123`, stage, param: "tok_emb.weight" });
  }
  const a = attentionPart(130, shapes, cfg, nodes, edges, stage + 1);
  const add1 = a.right + 18;
  nodes.push({ id: "add1", kind: "add", x: add1, y: Y, r: 9,
    title: cfg.residual ? "Residual sum: the block's input plus attention's output." : "No residual: attention's output alone goes on." });
  edges.push({ id: "e-add1", d: `M${a.right},${Y} H${add1 - 9}`, stage: a.stage, param: null });
  const handX = post ? add1 + 44 : add1 + 9;
  if (post) nodes.push(lnNode("ln-attn", add1 + 16, "LayerNorm after the residual sum (post-norm)."));
  const ffnX = add1 + 84;
  if (pre) nodes.push(lnNode("ln-ffn", ffnX - 36, "LayerNorm before the FFN (pre-norm)."));
  edges.push({ id: "e-handoff", kind: "handoff", d: `M${handX},${Y} H${pre ? ffnX - 36 : ffnX - 8}`,
    stage: a.stage + 1, param: null, label: "output, not weights", shape: act,
    title: `What attention hands the FFN: an activation tensor ${act} (one context-aware vector per token), ` +
      "computed fresh for every input. No weights travel along this arrow." });
  if (pre) edges.push({ id: "e-ln-ffn", d: `M${ffnX - 10},${Y} H${ffnX - 8}`, stage: a.stage + 1, param: null });
  const f = ffnPart(ffnX, shapes, cfg, nodes, edges, a.stage + 2);
  const add2 = f.right + 18;
  nodes.push({ id: "add2", kind: "add", x: add2, y: Y, r: 9, title: "Residual sum after the FFN." });
  edges.push({ id: "e-add2", d: `M${f.right},${Y} H${add2 - 9}`, stage: f.stage, param: null });
  const outX = add2 + (post ? 38 : 22);
  edges.push({ id: "e-out", d: `M${add2 + 9},${Y} H${outX}`, stage: f.stage + 1, param: "lm_head.weight" });
  const width = Math.max(DIAGRAM.width, outX + 84);
  nodes.push({ id: "output", kind: "box", x: outX, y: Y - 40, w: width - outX - 4, h: 80,
    lines: ["Output", pre ? "LN → logits" : "logits", "loss", ""],
    title: "Final LayerNorm (pre-norm), the LM head to vocabulary logits, and the next-token loss." });
  if (cfg.residual) {
    const r = DIAGRAM.residualY;
    edges.push(
      { id: "e-res1", kind: "residual", d: `M60,${Y - 40} V${r} H${add1} V${Y - 9}`, stage: 1, param: null },
      { id: "e-res2", kind: "residual", d: `M${handX + 12},${Y} V${r + 8} H${add2} V${Y - 9}`, stage: a.stage + 2, param: null },
    );
  }
  if (post) nodes.push(lnNode("ln-ffn", add2 + 12, "LayerNorm after the residual sum (post-norm).", 22));
  const stages = Math.max(...edges.map((e) => e.stage)) + 1;
  return { nodes, edges, stages, blocks: cfg.n_blocks, act, width };
}
