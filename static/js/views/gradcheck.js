// Gradient check, inside "Inside a weight": the learner picks one entry of a matrix (W_q … W_2 of
// any block); the server computes dL/dw of the next training step's batch by autograd and by a
// float64 central difference on a copy of the model (never the live weights). This view draws
// `state.gradcheck` (the API's GradCheck, or {error}) and the form that asks for it.
import { matricesOf, state, subscribe } from "../state.js";
import { h } from "../util/dom.js";
import { num } from "../util/format.js";

// Every block's matrices, parameter name -> "W_q · block 1", from the names the server serves.
const matrices = () => new Map(matricesOf().map((m) => [m.name, `${m.short} · ${m.block.label}`]));

// intents: {onGradcheck(parameter, row, col)}; row/col index the stored (out, in) tensor.
export function createGradcheckView(root, intents) {
  const param = h("select", { id: "gc-param", "aria-label": "Matrix to check" });
  const input = h("input", { id: "gc-in", type: "number", min: 0, step: 1, value: 0, class: "num-input",
    "aria-label": "input index (heatmap row)" });
  const output = h("input", { id: "gc-out", type: "number", min: 0, step: 1, value: 0, class: "num-input",
    "aria-label": "output index (heatmap column)" });
  const run = h("button", { type: "button", class: "small primary", id: "gc-run", text: "Check this entry" });
  const head = h("p", { class: "small", id: "gc-head" });
  const table = h("dl", { class: "stats", id: "gc-result" });
  root.append(
    h("h4", { text: "Gradient check: are the backward arrows the model's own?" }),
    h("p", { class: "muted small", text: "Pick one entry w of a matrix. The server takes the batch the next training " +
      "step will draw (without drawing it), and computes dL/dw twice on a float64 copy of the model: by autograd " +
      "(the backward pass), and by nudging w up and down, (L(w+h) − L(w−h)) / 2h. The live weights are never touched." }),
    h("div", { class: "row" }, param, h("label", { class: "small" }, "input ", input),
      h("label", { class: "small" }, "output ", output), run),
    head, table,
  );
  run.addEventListener("click", () => {
    // The heatmap shows (in, out); PyTorch stores (out, in): row = output, col = input.
    intents.onGradcheck(param.value, Number(output.value), Number(input.value));
  });
  param.addEventListener("change", limits);

  function limits() {
    const shape = (state.session && state.session.shapes[param.value]) || [1, 1];
    output.max = String(shape[0] - 1);
    input.max = String(shape[1] - 1);
  }

  function buildPicker() {
    const labels = matrices();
    param.replaceChildren(...[...labels].map(([n, text]) => h("option", { value: n, text })));
    followSelection();
  }

  // The matrix open above is the one checked, when it is a matrix the check accepts.
  function followSelection() {
    if (matrices().has(state.selectedWeight)) param.value = state.selectedWeight;
    limits();
  }

  function row(key, value, id, note = "") {
    return [h("dt", { text: key }), h("dd", { id, "data-value": String(value), text: `${num(value, 6)}${note}` })];
  }

  function render() {
    const r = state.gradcheck;
    table.replaceChildren();
    if (!r) return head.replaceChildren();
    if (r.error) return head.replaceChildren(h("span", { class: "error", text: r.error }));
    const agree = r.relative_error < 1e-4 ? "they agree" : "they differ: read the absolute error";
    const which = matrices().get(r.parameter) || r.parameter;
    head.replaceChildren(`${which}, input ${r.col}, output ${r.row} ` +
      `(stored [${r.row}, ${r.col}]) of the live model at step ${r.step}, on the next step's batch of ${r.batch_shape.join(" × ")} tokens: ${agree}.`);
    table.append(
      ...row("autograd (float64)", r.autograd, "gc-autograd"),
      ...row("finite difference", r.finite_difference, "gc-fd", ` (h = ${num(r.h, 2)})`),
      ...row("relative error", r.relative_error, "gc-rel"),
      ...row("absolute error", r.abs_error, "gc-abs"),
      ...row("autograd (float32, as training)", r.autograd_fp32, "gc-autograd32"),
      ...row("its relative error", r.relative_error_fp32, "gc-rel32"),
      ...row("w", r.value, "gc-w"),
      ...row("loss L(w), nats", r.loss, "gc-loss"),
    );
  }

  subscribe(["session"], () => state.session && buildPicker());
  subscribe(["selectedWeight"], followSelection);
  subscribe(["gradcheck"], render);
  return { render };
}
