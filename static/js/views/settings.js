// Settings tab: preset, corpus or own text, config and optimiser fields, seed, probe sentence;
// create (asking before it replaces a trained session) / compare; exports. API validation
// messages appear next to their field.
import { DEFAULTS, FORM_FIELDS } from "../config.js";
import { state, subscribe } from "../state.js";
import { $, $$, h } from "../util/dom.js";

// Body fields of /run and /train that the form shows under another path.
const ALIASES = { lr: "optimizer.lr" };

function getPath(obj, path) {
  return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function setPath(obj, path, value) {
  const keys = path.split(".");
  const last = keys.pop();
  const target = keys.reduce((o, k) => (o[k] ||= {}), obj);
  target[last] = value;
}

function field(spec, control) {
  const cls = `field${spec.type === "checkbox" ? " check" : ""}${spec.wide ? " span2" : ""}`;
  return h("div", { class: cls, "data-field": spec.field },
    h("label", { for: `f-${spec.field}`, text: spec.label, title: spec.hint || null }), control,
    h("small", { class: "field-error", id: `err-${spec.field}`, "aria-live": "polite" }));
}

function control(spec) {
  const id = `f-${spec.field}`;
  if (spec.type === "select") {
    return h("select", { id, name: spec.field }, ...spec.options.map((o) => h("option", { value: o, text: o })));
  }
  if (spec.type === "checkbox") return h("input", { id, name: spec.field, type: "checkbox" });
  return h("input", { id, name: spec.field, type: "number", min: spec.min, max: spec.max, step: spec.step || 1,
    "aria-describedby": `err-${spec.field}` });
}

// intents: {onCreate(body), onCompare(steps, corpus), onImport(file)}; urls: {metricsCsv(id), ...}
export function createSettings(root, { onCreate, onCompare, onImport, urls }) {
  const preset = h("select", { id: "f-preset", name: "preset" });
  const corpus = h("select", { id: "f-corpus", name: "corpus" });
  const tokenizer = h("select", { id: "f-tokenizer", name: "tokenizer" },
    h("option", { value: "word", text: "words" }), h("option", { value: "char", text: "characters" }));
  const text = h("textarea", { id: "f-text", name: "text", rows: 3, placeholder: "Paste your own training text", hidden: true });
  const probe = h("input", { id: "f-probe", name: "probe", type: "text" });
  const specs = FORM_FIELDS.map((spec) => [spec, control(spec)]);
  const compareSteps = h("input", { id: "f-steps", type: "number", min: 1, value: DEFAULTS.compareSteps });
  const compareCorpus = h("select", { id: "f-compare-corpus", name: "compare-corpus" });
  const form = h("form", { id: "settings-form", novalidate: true },
    h("div", { class: "form-grid settings-grid" },
      field({ field: "preset", label: "preset" }, preset),
      field({ field: "corpus", label: "corpus", wide: true }, corpus),
      field({ field: "tokenizer", label: "tokens" }, tokenizer),
      ...specs.map(([spec, c]) => field(spec, c))),
    h("div", { class: "field wide", "data-field": "text" }, text, h("small", { class: "field-error", id: "err-text" })),
    h("div", { class: "field wide", "data-field": "probe" }, h("label", { for: "f-probe", text: "probe sentence" }), probe,
      h("small", { class: "field-error", id: "err-probe" })),
    h("div", { class: "row" },
      h("button", { type: "submit", class: "primary", id: "btn-create", text: "Start a new session with these settings" })),
    h("div", { class: "confirm", id: "create-confirm", role: "alertdialog", hidden: true, "aria-label": "Replace this session?" }));
  const compare = h("div", { class: "row", "data-field": "steps" },
    h("label", { for: "f-steps", text: "Compare run: train attention+FFN, FFN only and attention only for" }), compareSteps,
    h("label", { for: "f-compare-corpus", text: "steps on" }), compareCorpus,
    h("button", { type: "button", id: "btn-compare", text: "Run comparison",
      onclick: () => onCompare(Number(compareSteps.value), compareCorpus.value) }),
    h("small", { class: "field-error", id: "err-steps" }));
  const exports = h("div", { class: "row links", id: "exports" });
  root.append(form, compare, h("h4", { text: "Export" }), exports);

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    clearErrors();
    if (emptyFields()) return;
    if (!state.liveStep) return onCreate(body());
    askCreate();
  });

  // A new session replaces this one: say what goes, and go only on a yes.
  function askCreate() {
    const box = $("#create-confirm", root);
    const yes = h("button", { type: "button", class: "primary small", id: "btn-create-yes", text: "Start the new session" });
    const no = h("button", { type: "button", class: "small", id: "btn-create-no", text: "Keep this one" });
    box.replaceChildren(h("span", { text: `The new session replaces this one: its ${state.liveStep.toLocaleString()} ` +
      "steps of training and its history are thrown away (download a checkpoint below first to keep them)." }), yes, no);
    box.hidden = false;
    no.focus();
    no.addEventListener("click", () => (box.hidden = true));
    yes.addEventListener("click", () => {
      box.hidden = true;
      onCreate(body());
    });
  }
  preset.addEventListener("change", () => fillFromPreset(preset.value));
  corpus.addEventListener("change", () => (text.hidden = corpus.value !== "__own"));

  function fillOptions() {
    preset.replaceChildren(...state.presets.map((p) => h("option", { value: p.name, text: p.name, title: p.description })));
    const list = state.corpora ? state.corpora.corpora : [];
    corpus.replaceChildren(...list.map((c) => h("option", { value: c.name, text: c.title || c.name, title: c.description })),
      h("option", { value: "__own", text: "my own text…" }));
    if (state.corpora) text.maxLength = state.corpora.max_user_text_chars;
    compareCorpus.replaceChildren(...list.map((c) => h("option", { value: c.name, text: c.title || c.name, title: c.description })));
    compareCorpus.value = list.some((c) => c.name === DEFAULTS.compareCorpus) ? DEFAULTS.compareCorpus : (list[0] || {}).name;
  }

  function fillFromPreset(name) {
    const p = state.presets.find((x) => x.name === name);
    if (!p) return;
    setValues({ config: p.config, optimizer: { lr: p.lr, batch_size: p.batch_size } }, true);
  }

  // Puts a SessionInfo-like object's values into the form (only the paths it has, when partial).
  function setValues(info, partial = false) {
    for (const [spec, c] of specs) {
      const v = getPath(info, spec.field);
      if (v === undefined && partial) continue;
      if (spec.type === "checkbox") c.checked = Boolean(v);
      else c.value = v ?? "";
    }
  }

  function fromSession(s) {
    fillOptions();
    preset.value = s.preset;
    corpus.value = s.corpus === "custom" ? "__own" : s.corpus;
    text.hidden = s.corpus !== "custom";
    tokenizer.value = s.tokenizer;
    probe.value = s.probe;
    setValues(s);
    renderExports(s.id);
  }

  // An emptied number field is a mistake to point at, not a silent "use the default".
  function emptyFields() {
    const empty = specs.filter(([spec, c]) => spec.type === "number" && c.value.trim() === "");
    for (const [spec, c] of empty) {
      const slot = $(`[data-field="${CSS.escape(spec.field)}"] .field-error`, root);
      slot.textContent = `${spec.label} is empty: enter a number (the preset's value was filled in when you picked it).`;
      c.setAttribute("aria-invalid", "true");
    }
    if (empty.length) empty[0][1].focus();
    return empty.length > 0;
  }

  function body() {
    const out = { preset: preset.value, tokenizer: tokenizer.value, probe: probe.value };
    if (corpus.value === "__own") out.text = text.value;
    else out.corpus = corpus.value;
    for (const [spec, c] of specs) {
      if (spec.type === "checkbox") setPath(out, spec.field, c.checked);
      else if (c.value !== "") setPath(out, spec.field, spec.type === "number" ? Number(c.value) : c.value);
    }
    return out;
  }

  function renderExports(id) {
    exports.replaceChildren(
      h("a", { href: urls.metricsCsv(id), download: `attnflow-${id}-metrics.csv`, text: "loss & metrics (CSV)" }),
      h("a", { href: urls.metricsJson(id), download: `attnflow-${id}-metrics.json`, text: "metrics (JSON)" }),
      h("a", { href: urls.checkpoint(id), download: `attnflow-${id}.safetensors`, text: "checkpoint (safetensors)" }),
      h("label", { class: "file" }, "load a checkpoint ", h("input", { type: "file", accept: ".safetensors",
        id: "f-import", onchange: (e) => pickFile(e.target) })),
      h("a", { href: urls.docs, target: "_blank", rel: "noopener", text: "API docs" }));
  }

  function pickFile(input) {
    const file = input.files && input.files[0];
    input.value = "";
    if (file) onImport(file);
  }

  function clearErrors() {
    for (const el of $$(".field-error", root)) el.textContent = "";
    for (const el of $$("[aria-invalid]", root)) el.removeAttribute("aria-invalid");
  }

  // Shows each errors[].field message next to its field; returns the fields it could not place.
  function showErrors(err) {
    const unplaced = [];
    for (const e of err.errors || []) {
      const path = ALIASES[e.field] || e.field;
      const slot = $(`[data-field="${CSS.escape(path)}"] .field-error`, root) ||
        (e.field === "text" ? $("#err-text", root) : null);
      if (!slot) {
        unplaced.push(e);
        continue;
      }
      slot.textContent = e.message;
      const input = slot.parentElement.querySelector("input, select, textarea");
      if (input) input.setAttribute("aria-invalid", "true");
    }
    const first = $("[aria-invalid]", root);
    if (first) first.focus();
    return unplaced;
  }

  // The learning rate field also steers the current session: a changed value goes with the next
  // Train or +1 step. Returns the number, or null when it is empty or unchanged.
  function lrChange() {
    const input = specs.find(([spec]) => spec.field === "optimizer.lr")[1];
    const value = Number(input.value);
    if (!input.value || !Number.isFinite(value) || !state.session) return null;
    return value === state.session.optimizer.lr ? null : value;
  }

  subscribe(["session"], () => state.session && fromSession(state.session));
  subscribe(["presets", "corpora"], fillOptions);
  // The most blocks a session may have is the server's (GET /api/names), not a copy of it here.
  subscribe(["names"], () => {
    const blocks = specs.find(([spec]) => spec.field === "config.n_blocks");
    if (blocks && state.names) blocks[1].max = String(state.names.max_blocks);
  });
  return { showErrors, clearErrors, body, lrChange };
}
