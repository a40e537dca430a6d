// Pure geometry of the flow diagram, computed from a session's config and shapes. No DOM.
// Every block is drawn, input side on the left, each with its own attention and FFN. Nodes carry
// text and hover notes; edges carry a forward-order `stage` (so the forward animation walks the
// blocks left to right and the backward one right to left), their `block` and the parameter whose
// gradient they show on the way back. Parameter names come from the API's names (`blocks`).
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

// Block 0 keeps the plain ids (the tour and links point at them); block i > 0 gets "-b{i}".
const bid = (id, block) => (block ? `${id}-b${block}` : id);

function weightNode(block, short, x, y, shapes) {
  const param = block.weights[short];
  const stored = shapes[param] || [0, 0];
  const math = [stored[1], stored[0]]; // nn.Linear stores (out, in); the math reads x · W (in × out)
  const symbolic = short === "W_1" ? "d × d_ff" : short === "W_2" ? "d_ff × d" : "d × d";
  return {
    id: bid(`w-${short}`, block.index), kind: "weight", block: block.index, param, x, y, w: WW, h: WH,
    name: short, math, symbolic,
    title: `${short} of ${block.label}, ${ROLE[short]}.\nMath shape ${symbolic} = ${times(math)}; ` +
      `stored as (out, in) = ${shape(stored)} in PyTorch's nn.Linear.\n` +
      `Its own weights, started random (normal, std 0.02) and trained by backprop.\n` +
      `Click for its heatmap, histogram and history.`,
  };
}

// One sublayer's frame; `part` ("attn" | "ffn") and `block` let the page (and tests) find it.
function group(block, part, x, w, label, off, title) {
  return { id: bid(part === "attn" ? "g-attn" : "g-ffn", block.index), kind: "group", part, block: block.index,
    x, y: 58, w, h: 176, label, sub: "own weights, random at start", off, title };
}

function attentionPart(x0, block, ctx, stage) {
  const { shapes, cfg, nodes, edges } = ctx;
  const b = block.index;
  nodes.push(group(block, "attn", x0, 200, "Attention", !cfg.use_attention,
    "Multi-head causal self-attention: every token mixes in the tokens before it."));
  if (!cfg.use_attention) {
    edges.push({ id: bid("e-attn-bypass", b), block: b, d: `M${x0},${Y} H${x0 + 200}`, stage, param: null });
    return { right: x0 + 200, stage: stage + 1 };
  }
  const wx = x0 + 10;
  const ys = [Y - 57, Y - 17, Y + 23];
  ["W_q", "W_k", "W_v"].forEach((name, i) => {
    nodes.push(weightNode(block, name, wx, ys[i], shapes));
    edges.push({ id: bid(`e-in-${name}`, b), block: b, stage, param: block.weights[name],
      d: `M${x0 - 8},${Y} C${x0},${Y} ${x0},${ys[i] + WH / 2} ${wx},${ys[i] + WH / 2}` });
  });
  const mx = x0 + 98;
  nodes.push({ id: bid("mix", b), kind: "mix", x: mx, y: Y, r: 9, label: "softmax(QKᵀ)·V", labelAt: [x0 + 153, Y + 36],
    title: "The attention pattern softmax(QKᵀ/√d_head) is computed fresh for every sentence.\n" +
      "It is not a parameter, and it is not handed to the FFN: only the output below is." });
  ["W_q", "W_k", "W_v"].forEach((name, i) => {
    edges.push({ id: bid(`e-${name}-mix`, b), block: b, stage: stage + 1, param: block.weights[name],
      d: `M${wx + WW},${ys[i] + WH / 2} C${mx - 6},${ys[i] + WH / 2} ${mx - 8},${Y} ${mx - 9},${Y}` });
  });
  const ox = x0 + 116;
  const wo = block.weights.W_o;
  nodes.push(weightNode(block, "W_o", ox, Y - WH / 2, shapes));
  edges.push({ id: bid("e-mix-W_o", b), block: b, d: `M${mx + 9},${Y} H${ox}`, stage: stage + 2, param: wo });
  edges.push({ id: bid("e-attn-out", b), block: b, d: `M${ox + WW},${Y} H${x0 + 200}`, stage: stage + 3, param: wo });
  return { right: x0 + 200, stage: stage + 4 };
}

function ffnPart(x0, block, ctx, stage) {
  const { shapes, cfg, nodes, edges } = ctx;
  const b = block.index;
  nodes.push(group(block, "ffn", x0, 196, "Feed-forward (FFN)", !cfg.use_ffn,
    "The FFN works on each token on its own; it sees other tokens only through what attention mixed in."));
  if (!cfg.use_ffn) {
    edges.push({ id: bid("e-ffn-bypass", b), block: b, d: `M${x0},${Y} H${x0 + 196}`, stage, param: null });
    return { right: x0 + 196, stage: stage + 1 };
  }
  const w1 = weightNode(block, "W_1", x0 + 10, Y - WH / 2, shapes);
  const ax = x0 + 98;
  const w2 = weightNode(block, "W_2", x0 + 112, Y - WH / 2, shapes);
  nodes.push(w1, w2, { id: bid("act", b), kind: "mix", x: ax, y: Y, r: 9, label: cfg.activation.toUpperCase(),
    title: `${cfg.activation.toUpperCase()} activation: the non-linearity between W_1 and W_2 (no weights).` });
  edges.push(
    { id: bid("e-ffn-in", b), block: b, d: `M${x0 - 8},${Y} H${x0 + 10}`, stage, param: w1.param },
    { id: bid("e-W_1-act", b), block: b, d: `M${x0 + 10 + WW},${Y} H${ax - 9}`, stage: stage + 1, param: w1.param },
    { id: bid("e-act-W_2", b), block: b, d: `M${ax + 9},${Y} H${x0 + 112}`, stage: stage + 2, param: w2.param },
    { id: bid("e-ffn-out", b), block: b, d: `M${x0 + 112 + WW},${Y} H${x0 + 196}`, stage: stage + 3, param: w2.param },
  );
  return { right: x0 + 196, stage: stage + 4 };
}

function lnNode(id, block, x, title, w = 26) {
  return { id: bid(id, block), kind: "ln", block, x, y: Y - 11, w, h: 22, label: "LN", title };
}

// One block from x = bx (where its input arrives) at `stage`; `from` is where its residual
// stream branches off (the input box for block 0). Returns where its output leaves.
function blockPart(bx, block, ctx, stage, from) {
  const { cfg, nodes, edges, act } = ctx;
  const b = block.index;
  const pre = cfg.norm === "pre";
  const post = cfg.norm === "post";
  nodes.push({ id: `block-${b}`, kind: "label", block: b, x: bx + 40, y: 50, text: block.label });
  if (pre) {
    nodes.push(lnNode("ln-attn", b, bx + 6, "LayerNorm before attention (pre-norm)."));
    // Block 0's LayerNorm sits on the embeddings' edge, so it shows their gradient.
    edges.push({ id: bid("e-ln-attn", b), block: b, d: `M${bx + 32},${Y} H${bx + 33}`, stage,
      param: b === 0 ? "tok_emb.weight" : null });
  }
  const a = attentionPart(bx + 40, block, ctx, stage + 1);
  const add1 = a.right + 18;
  nodes.push({ id: bid("add1", b), kind: "add", block: b, x: add1, y: Y, r: 9,
    title: cfg.residual ? "Residual sum: the block's input plus attention's output." : "No residual: attention's output alone goes on." });
  edges.push({ id: bid("e-add1", b), block: b, d: `M${a.right},${Y} H${add1 - 9}`, stage: a.stage, param: null });
  const handX = post ? add1 + 44 : add1 + 9;
  if (post) nodes.push(lnNode("ln-attn", b, add1 + 16, "LayerNorm after the residual sum (post-norm)."));
  const ffnX = add1 + 84;
  if (pre) nodes.push(lnNode("ln-ffn", b, ffnX - 36, "LayerNorm before the FFN (pre-norm)."));
  edges.push({ id: bid("e-handoff", b), block: b, kind: "handoff", d: `M${handX},${Y} H${pre ? ffnX - 36 : ffnX - 8}`,
    stage: a.stage + 1, param: null, label: "output, not weights", shape: act,
    title: `What attention hands the FFN: an activation tensor ${act} (one context-aware vector per token), ` +
      "computed fresh for every input. No weights travel along this arrow." });
  if (pre) edges.push({ id: bid("e-ln-ffn", b), block: b, d: `M${ffnX - 10},${Y} H${ffnX - 8}`, stage: a.stage + 1, param: null });
  const f = ffnPart(ffnX, block, ctx, a.stage + 2);
  const add2 = f.right + 18;
  nodes.push({ id: bid("add2", b), kind: "add", block: b, x: add2, y: Y, r: 9, title: "Residual sum after the FFN." });
  edges.push({ id: bid("e-add2", b), block: b, d: `M${f.right},${Y} H${add2 - 9}`, stage: f.stage, param: null });
  if (cfg.residual) {
    const r = DIAGRAM.residualY;
    edges.push(
      { id: bid("e-res1", b), block: b, kind: "residual", d: `${from} V${r} H${add1} V${Y - 9}`, stage: stage + 1, param: null },
      { id: bid("e-res2", b), block: b, kind: "residual", d: `M${handX + 12},${Y} V${r + 8} H${add2} V${Y - 9}`,
        stage: a.stage + 2, param: null },
    );
  }
  if (post) nodes.push(lnNode("ln-ffn", b, add2 + 12, "LayerNorm after the residual sum (post-norm).", 22));
  return { exit: add2 + 9, right: add2 + (post ? 38 : 22), stage: f.stage };
}

// session: SessionInfo; blocks: the API's names of its blocks ([{index, label, weights, …}]).
export function layout(session, blocks) {
  const cfg = session.config;
  const shapes = session.shapes || {};
  const [B, T, d] = session.batch_shape || [0, 0, cfg.d_model];
  const pre = cfg.norm === "pre";
  const nodes = [];
  const edges = [];
  const act = shape([B, T, d]);
  const ctx = { shapes, cfg, nodes, edges, act };
  nodes.push({ id: "input", kind: "box", x: 4, y: Y - 40, w: 86, h: 80, lines: ["Input", "embeddings", "(B, T, d)", act],
    title: `Token + position embeddings for a batch: (batch B, sequence T, width d) = ${act}.` });
  let stage = 0;
  let bx = 90;
  let exit = 90;
  let from = `M60,${Y - 40}`; // the first residual leaves the input box's top
  for (const block of blocks) {
    const into = bx + (pre ? 6 : 32);
    edges.push(block.index === 0
      ? { id: "e-input", d: `M${exit},${Y} H${into}`, stage, param: "tok_emb.weight" }
      : { id: bid("e-link", block.index), block: block.index, d: `M${exit},${Y} H${into}`, stage, param: null });
    const part = blockPart(bx, block, ctx, stage, from);
    stage = part.stage + 1;
    exit = part.exit;
    from = `M${part.right + 4},${Y}`;
    bx = part.right + 10;
  }
  const outX = bx - 10;
  edges.push({ id: "e-out", d: `M${exit},${Y} H${outX}`, stage, param: "lm_head.weight" });
  const width = Math.max(DIAGRAM.width, outX + 132);
  nodes.push({ id: "output", kind: "box", x: outX, y: Y - 40, w: width - outX - 4, h: 80,
    lines: ["Output", pre ? "LN → logits" : "logits", "loss", ""],
    title: "Final LayerNorm (pre-norm), the LM head to vocabulary logits, and the next-token loss." });
  const stages = Math.max(...edges.map((e) => e.stage)) + 1;
  return { nodes, edges, stages, blocks: blocks.length, act, width };
}
