// The flow diagram (SVG): draws the layout (every block of the model), renders one phase of a
// training step at a given progress (the player decides when), and lets the learner pick a weight.
// Each block's frame carries data-lit = the phase whose flow has reached it (the backward flow
// reaches the last block first), so the page and its tests can follow the walk.
import { DIAGRAM, FLOW } from "../config.js";
import { h, s } from "../util/dom.js";
import { num, times, updateRatio } from "../util/format.js";
import { labelStep } from "../util/steps.js";
import { layout } from "./diagram_layout.js";

const clamp01 = (x) => Math.min(Math.max(x, 0), 1);

// Log-scales a set of positive numbers to [0, 1] (covers three decades below the largest).
function logNormaliser(values) {
  const logs = values.filter((v) => v > 0).map(Math.log10);
  const hi = logs.length ? Math.max(...logs) : 0;
  const lo = Math.max(logs.length ? Math.min(...logs) : hi - 3, hi - 3);
  return (v) => (v > 0 ? clamp01((Math.log10(v) - lo) / (hi - lo || 1)) : 0);
}

// The key to the diagram's colours: one swatch per phase, with what its width or number means.
export function drawLegend(root) {
  const item = (colour, kind, text) => h("span", { class: "legend-item" },
    h("span", { class: `swatch ${kind}`, style: `background:${colour}` }), text);
  root.replaceChildren(
    item(FLOW.forward, "line", "forward: activations flow to the output"),
    item(FLOW.backward, "thick", "backward: gradients flow back; width ∝ log ‖g‖"),
    item(FLOW.update, "box", "update: each weight moves by ΔW/W = ‖ΔW‖ / ‖W‖"),
    item("var(--edge)", "dash", "residual (skip) path"));
}

export function createDiagram(svg, { onSelectWeight }) {
  let geo = null;
  let edgeEls = [];
  let weightEls = new Map();
  let lossText = null;
  let lossLabel = null;
  let lastPhase = null;
  let blockEls = new Map(); // block index -> its group elements (attention, FFN)

  svg.setAttribute("viewBox", `0 0 ${DIAGRAM.width} ${DIAGRAM.height}`);

  function drawNode(n) {
    const title = s("title", { text: n.title || "" });
    if (n.kind === "label") return s("text", { id: n.id, x: n.x, y: n.y, class: "block-label", text: n.text });
    if (n.kind === "group") {
      return s("g", { id: n.id, class: `group${n.off ? " off" : ""}`, "data-part": n.part, "data-block": n.block }, title,
        s("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: 10 }),
        s("text", { x: n.x + 10, y: n.y + 17, class: "group-label", text: n.label }),
        s("text", { x: n.x + n.w / 2, y: n.y + n.h - 8, class: "group-sub", "text-anchor": "middle",
          text: n.off ? "switched off" : n.sub }));
    }
    if (n.kind === "weight") return drawWeight(n, title);
    if (n.kind === "mix" || n.kind === "add") {
      return s("g", { id: n.id, class: `node ${n.kind}` }, title,
        s("circle", { cx: n.x, cy: n.y, r: n.r }),
        s("text", { x: n.x, y: n.y + 4, "text-anchor": "middle", text: n.kind === "add" ? "+" : "·" }),
        n.label ? s("text", { x: (n.labelAt || [n.x])[0], y: (n.labelAt || [0, n.y + 24])[1], class: "tiny",
          "text-anchor": "middle", text: n.label }) : null);
    }
    if (n.kind === "ln") {
      return s("g", { id: n.id, class: "node ln" }, title,
        s("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: 4 }),
        s("text", { x: n.x + n.w / 2, y: n.y + 15, "text-anchor": "middle", class: "tiny", text: n.label }));
    }
    const g = s("g", { id: n.id, class: "node box" }, title,
      s("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: 8 }));
    n.lines.forEach((line, i) => {
      const last = n.id === "output" && i === 3;
      const t = s("text", { x: n.x + n.w / 2, y: n.y + 17 + i * 17, "text-anchor": "middle",
        class: last ? "loss-value" : i >= 2 ? "shape" : "", text: line });
      if (n.id === "output" && i === 3) lossText = t;
      if (n.id === "output" && i === 2) lossLabel = t;
      g.append(t);
    });
    return g;
  }

  function drawWeight(n, title) {
    const cx = n.x + n.w / 2;
    const info = s("text", { x: cx, y: n.y + 28, "text-anchor": "middle", class: "shape", text: times(n.math) });
    const g = s("g", { id: n.id, class: "weight", tabindex: 0, role: "button", "data-param": n.param,
      "aria-label": `${n.name}, ${n.symbolic} = ${times(n.math)}; open its heatmap` }, title,
      s("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: 6 }),
      s("text", { x: cx, y: n.y + 14, "text-anchor": "middle", class: "wname", text: n.name }), info);
    g.style.transformOrigin = `${cx}px ${n.y + n.h / 2}px`;
    const pick = () => onSelectWeight(n.param);
    g.addEventListener("click", pick);
    g.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        pick();
      }
    });
    weightEls.set(n.param, { g, info, node: n });
    return g;
  }

  function drawEdge(e) {
    const cls = `edge${e.kind ? ` ${e.kind}` : ""}`;
    const base = s("path", { d: e.d, class: cls, id: e.id });
    const flow = s("path", { d: e.d, class: "flow" });
    const out = [base, flow];
    if (e.kind === "handoff") out.push(handoffLabel(e));
    return out;
  }

  function handoffLabel(e) {
    const m = /M([\d.]+),([\d.]+) H([\d.]+)/.exec(e.d);
    const cx = m ? (Number(m[1]) + Number(m[3])) / 2 + 4 : 0;
    const y = DIAGRAM.flowY;
    return s("g", { class: "handoff-label", id: e.block ? `handoff-label-b${e.block}` : "handoff-label" }, s("title", { text: e.title }),
      s("text", { x: cx, y: y + 22, "text-anchor": "middle", class: "hand-strong", text: "output" }),
      s("text", { x: cx, y: y + 36, "text-anchor": "middle", class: "shape", text: e.shape }),
      s("text", { x: cx, y: y + 50, "text-anchor": "middle", class: "tiny", text: "not weights" }));
  }

  // session: SessionInfo; blocks: the names of its blocks (state.names.blocks, first n_blocks).
  function draw(session, blocks) {
    geo = layout(session, blocks);
    svg.setAttribute("viewBox", `0 0 ${geo.width} ${DIAGRAM.height}`);
    // Never narrower than legible: a model of several blocks scrolls sideways in its box.
    svg.style.minWidth = `${Math.round(geo.width * DIAGRAM.minScale)}px`;
    svg.setAttribute("aria-label", `Flow diagram of ${blocks.length} transformer block${blocks.length > 1 ? "s" : ""}: ` +
      "input embeddings, then in each block attention with W_q, W_k, W_v, W_o and the feed-forward layer with " +
      "W_1 and W_2, and the output");
    weightEls = new Map();
    lossText = null;
    const edges = geo.edges.map((e) => ({ e, els: drawEdge(e) }));
    const arrow = s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 8 8", refX: 7, refY: 4,
      markerWidth: 7, markerHeight: 7, orient: "auto" }, s("path", { d: "M0,0 L8,4 L0,8 z", class: "arrowhead" })));
    const groups = geo.nodes.filter((n) => n.kind === "group").map(drawNode);
    const others = geo.nodes.filter((n) => n.kind !== "group").map(drawNode);
    svg.replaceChildren(arrow, ...groups, ...edges.flatMap((x) => x.els), ...others);
    blockEls = new Map();
    for (const g of svg.querySelectorAll(".group[data-block]")) {
      const b = Number(g.dataset.block);
      blockEls.set(b, [...(blockEls.get(b) || []), g]);
    }
    edgeEls = edges.map(({ e, els }) => {
      const len = els[1].getTotalLength();
      els[1].style.strokeDasharray = `${len} ${len}`;
      els[1].style.strokeDashoffset = `${len}`;
      return { e, base: els[0], flow: els[1], len, last: -1 };
    });
    lastPhase = null;
    svg.dataset.phase = "idle";
    restFigures();
  }

  function setEdge(item, t, colour, width, reverse) {
    const key = `${t.toFixed(3)}|${colour}|${width}`;
    if (item.last === key) return;
    item.last = key;
    const off = item.len * (1 - t);
    item.flow.style.strokeDashoffset = `${reverse ? -off : off}`;
    item.flow.style.stroke = colour;
    item.flow.style.strokeWidth = `${width}`;
  }

  // Marks the blocks in `reached` as lit by `phase` (each keeps the first phase that lit it).
  function light(phase, reached) {
    for (const b of reached) {
      for (const g of blockEls.get(b) || []) if (!g.dataset.lit) g.dataset.lit = phase;
    }
  }

  function unlight() {
    for (const els of blockEls.values()) for (const g of els) g.dataset.lit = "";
  }

  function forward(t) {
    const reached = new Set();
    for (const item of edgeEls) {
      const local = clamp01(t * geo.stages - item.e.stage);
      setEdge(item, local, FLOW.forward, 2.5, false);
      if (local > 0 && item.e.block !== undefined) reached.add(item.e.block);
    }
    light("forward", reached);
  }

  // lit: the phase the reached blocks are marked with (null while the update phase rewinds it).
  function backward(t, record, lit = "backward") {
    const grads = record.grad_norms || {};
    const norm = logNormaliser(Object.values(grads));
    const { min, max } = DIAGRAM.edgeWidth;
    const seen = new Set();
    const reached = new Set();
    for (const item of edgeEls) {
      const local = clamp01(t * geo.stages - (geo.stages - 1 - item.e.stage));
      // Only edges that feed a weight have a measured gradient norm; the others keep one width.
      const g = item.e.param ? grads[item.e.param] : undefined;
      const width = item.e.kind === "residual" ? min : min + (max - min) * (g !== undefined ? norm(g) : 0.25);
      setEdge(item, local, FLOW.backward, width.toFixed(1), true);
      if (local > 0 && item.e.param) seen.add(item.e.param);
      if (local > 0 && item.e.block !== undefined) reached.add(item.e.block);
    }
    if (lit) light(lit, reached);
    for (const [param, w] of weightEls) {
      if (seen.has(param)) w.info.textContent = `‖g‖ ${num(grads[param], 2)}`;
    }
  }

  function updatePulse(t, record) {
    const ratios = record.update_ratios || {};
    const norm = logNormaliser(Object.values(ratios));
    const { min, max } = DIAGRAM.pulseScale;
    for (const [param, w] of weightEls) {
      const k = ratios[param] !== undefined ? norm(ratios[param]) : 0;
      const bump = Math.sin(Math.PI * t) * (max - min) * (0.25 + 0.75 * k);
      w.g.style.transform = `scale(${(min + bump).toFixed(4)})`;
      w.g.style.setProperty("--pulse", (Math.sin(Math.PI * t) * (0.3 + 0.7 * k)).toFixed(3));
      w.info.textContent = `ΔW/W ${updateRatio(ratios[param], 2)}`;
    }
  }

  function resetWeights() {
    for (const w of weightEls.values()) {
      w.g.style.transform = "";
      w.g.style.setProperty("--pulse", "0");
      w.info.textContent = times(w.node.math);
    }
  }

  // The player calls this every frame: phase in state.names.phases, t in [0, 1], record a StepRecord.
  function setPhase(phase, t, record) {
    if (!geo) return;
    if (phase !== lastPhase) {
      svg.dataset.phase = phase;
      svg.dataset.phases = `${svg.dataset.phases || ""}${phase[0]}`.slice(-64);
      if (phase === "forward") resetWeights();
      unlight();
      lastPhase = phase;
    }
    if (phase === "forward") forward(t);
    else if (phase === "loss") {
      forward(1);
      showLoss(record, t);
    } else if (phase === "backward") backward(t, record);
    else if (phase === "update") {
      backward(1 - t, record, null);
      light("update", blockEls.keys()); // every block's matrices move at once
      updatePulse(t, record);
    }
  }

  function showLoss(record, t = 1, heldout = false) {
    if (!lossText) return;
    lossText.textContent = `${num(record.loss, 4)} nats`;
    lossText.dataset.value = String(record.loss);
    labelStep(lossLabel, record.step, (k) => `${heldout ? "held-out" : "loss"} @ step ${k}`, { short: true });
    lossText.style.opacity = String(0.3 + 0.7 * t);
  }

  // At rest the diagram shows one step's figures: its loss, the gradient norms as edge widths and
  // each weight's update ratio ΔW/W (both also in the hover text). figures: {step, loss,
  // lossKind, grad_norms, update_ratios}; the step-0 model has a loss and no step yet.
  let figures = null;
  function show(f) {
    figures = f;
    if (geo && svg.dataset.phase === "idle") idle(); // an animation in progress paints them at its end
  }

  function restFigures() {
    const f = figures;
    if (!f) return;
    if (Number.isFinite(f.loss)) showLoss(f, 1, f.lossKind === "heldout");
    const grads = f.grad_norms;
    const ratios = f.update_ratios;
    if (grads) {
      const norm = logNormaliser(Object.values(grads));
      const { min, max } = DIAGRAM.edgeWidth;
      for (const item of edgeEls) {
        const g = item.e.param ? grads[item.e.param] : undefined;
        if (g === undefined || item.e.kind === "residual") continue;
        item.base.style.strokeWidth = (min + (max - min) * norm(g)).toFixed(1);
      }
    }
    for (const [param, w] of weightEls) {
      w.g.dataset.grad = grads ? String(grads[param]) : "";
      w.g.dataset.ratio = ratios ? String(ratios[param]) : "";
      if (ratios && ratios[param] !== undefined) w.info.textContent = `ΔW/W ${updateRatio(ratios[param], 2)}`;
      const tip = w.g.querySelector("title");
      const base = tip.dataset.base || (tip.dataset.base = tip.textContent);
      tip.textContent = grads ? `${base}\nStep ${f.step}: ‖g‖ ${num(grads[param], 3)}, ΔW/W ${updateRatio(ratios[param], 3)}.` : base;
    }
    svg.dataset.figuresStep = String(f.step);
  }

  function idle() {
    for (const item of edgeEls) {
      setEdge(item, 0, FLOW.forward, 2.5, false);
      item.base.style.strokeWidth = "";
    }
    resetWeights();
    restFigures();
    unlight();
    svg.dataset.phase = "idle";
    lastPhase = null;
  }

  function select(param) {
    for (const [p, w] of weightEls) w.g.classList.toggle("selected", p === param);
  }

  function highlight(ids) {
    for (const el of svg.querySelectorAll(".highlight")) el.classList.remove("highlight");
    for (const id of ids || []) {
      const el = svg.querySelector(`#${CSS.escape(id)}`);
      if (el) el.classList.add("highlight");
    }
  }

  return { draw, setPhase, idle, select, highlight, show };
}
