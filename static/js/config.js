// Visual constants, colours, timings and defaults: the one place to tune how the page looks and
// moves. Logic modules import from here and never hard-code a colour or a duration.

// Colour-blind-safe palettes. Sequential: viridis (magnitudes, attention, activations).
// Diverging: blue–orange (signed weights). Series: Okabe–Ito, never a red–green pair.
export const SCALES = {
  viridis: ["#440154", "#482878", "#3e4989", "#31688e", "#26828e",
            "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"],
  blueOrange: ["#08519c", "#3182bd", "#9ecae1", "#f2f0ec", "#fdbe85", "#e6550d", "#a63603"],
};

export const SERIES = {
  train: { color: "#0072B2", dash: "solid", label: "training loss" },
  heldout: { color: "#E69F00", dash: "solid", label: "held-out loss" },
  // The comparison's three models, by role (state.names.variants maps each role to its name).
  both: { color: "#009E73", dash: "solid", label: "attention + FFN" },
  ffn_only: { color: "#CC79A7", dash: "dot", label: "FFN only" },
  attention_only: { color: "#56B4E9", dash: "dashdot", label: "attention only" },
  bigram: { color: "#888888", dash: "dash", label: "bigram bound" },
};

// Diagram roles: forward activations travel in blue, gradients in orange.
export const FLOW = {
  forward: "#3a86d4",
  backward: "#e08a1e",
  update: "#9d6fd6",
  idle: "var(--edge)",
};

export const TIMING = {
  // Duration of each phase at speed 1×, in milliseconds.
  phaseMs: { forward: 700, loss: 350, backward: 800, update: 500 },
  // Animation speeds offered (0 = no animation: each phase is drawn finished at once).
  speeds: [0.25, 0.5, 1, 2, 4, 0],
  // The diagram redraws at most this often while animating (~30 fps): the dashes move slowly, and
  // every redraw repaints the SVG, which costs a 2-core machine that also trains the model.
  animFrameMs: 32,
  // The loss chart takes new points at most this often: each Plotly.extendTraces redraws the
  // whole chart (20–40 ms on two cores), so 1.5 s apart keeps frames smooth.
  chartFlushMs: 1500,
  attentionRenderMs: 1000, // live attention messages redraw the view at most this often
  counterFlushMs: 100, // step counters update at most this often
  liveRefreshMs: 2500, // attention / FFN / weights re-query while training
  scrubDebounceMs: 150,
  snapshotListMs: 4000, // the scrubber's list of stored steps refreshes this often while training
  toastMs: 7000,
  streamRetryMs: [500, 1000, 2000, 5000],
};

export const LIMITS = {
  maxPoints: 20000, // loss-chart points kept per trace
  // The training curve plots every step up to this step, then the mean of 2, 4, 8 … steps per
  // point (the bin doubles as the run doubles): about half this many points per doubling, so a
  // redraw costs about the same at step 100 000 as at step 500.
  denseSteps: 250,
  ffnUnits: 256, // FFN units drawn at once
  weightSize: 64, // /weights max_size for heatmaps
  snapshotSize: 32, // snapshots come downsampled to this
  sparkPoints: 400,
  trainChunk: 100, // steps per /train call when catching up a companion session
};

export const DEFAULTS = {
  word: "mat",
  sentenceA: "the cat sat on the mat .",
  sentenceB: "the dog lay on the mat .",
  // The comparison the tour runs: on "pairs" only attention and the FFN together learn the task
  // (measured at 1000 steps, tiny preset: 0.83 vs 0.94 attention only vs 1.06 FFN only).
  compareSteps: 1000,
  compareCorpus: "pairs",
  weight: "W_1", // of the first block (names of weights come from state.names)
};

// Diagram geometry, in SVG user units (the SVG scales to its panel).
export const DIAGRAM = {
  width: 800, // wide enough that the output box holds "loss @ step 12345 (older)"
  height: 250,
  flowY: 150,
  residualY: 34,
  font: 12,
  small: 10.5,
  weight: { w: 74, h: 34 },
  edgeWidth: { min: 1.5, max: 9 },
  pulseScale: { min: 1.0, max: 1.18 },
  // Smallest on-screen px per SVG unit: below it the diagram scrolls sideways in its box instead
  // of shrinking (800 units → 620 px, legible on a 390 px phone; four blocks scroll).
  minScale: 0.775,
};

// Config fields the settings form offers, in order; `field` is the API's dotted path.
export const FORM_FIELDS = [
  { field: "config.d_model", label: "d_model", type: "number", min: 1 },
  { field: "config.n_heads", label: "heads", type: "number", min: 1 },
  { field: "config.d_ff", label: "d_ff", type: "number", min: 1 },
  { field: "config.context_length", label: "context", type: "number", min: 2 },
  { field: "config.n_blocks", label: "blocks", type: "number", min: 1 }, // max: names.max_blocks
  { field: "config.activation", label: "activation", type: "select", options: ["gelu", "relu"] },
  { field: "config.norm", label: "LayerNorm", type: "select", options: ["pre", "post", "none"] },
  { field: "config.dropout", label: "dropout", type: "number", step: 0.05, min: 0 },
  { field: "config.residual", label: "residual", type: "checkbox" },
  { field: "config.use_attention", label: "attention", type: "checkbox" },
  { field: "config.use_ffn", label: "FFN", type: "checkbox" },
  { field: "optimizer.lr", label: "learning rate", type: "number", step: "any", min: 0,
    hint: "also used from the next Train or +1 step" },
  { field: "optimizer.batch_size", label: "batch", type: "number", min: 1 },
  { field: "optimizer.weight_decay", label: "weight decay", type: "number", step: "any", min: 0 },
  { field: "seed", label: "seed", type: "number", min: 0 },
];

// Which URL query keys map to which SessionCreate paths (a shareable URL reproduces a session).
export const URL_KEYS = {
  preset: "preset", corpus: "corpus", tokenizer: "tokenizer", seed: "seed", probe: "probe",
  d_model: "config.d_model", n_heads: "config.n_heads", d_ff: "config.d_ff",
  context_length: "config.context_length", n_blocks: "config.n_blocks",
  activation: "config.activation", norm: "config.norm", dropout: "config.dropout",
  residual: "config.residual", use_attention: "config.use_attention", use_ffn: "config.use_ffn",
  lr: "optimizer.lr", batch_size: "optimizer.batch_size", weight_decay: "optimizer.weight_decay",
};

// Runs side by side on the loss chart (views/runs.js): colours after the live curves' two, and how
// many of this browser's own sessions are remembered (localStorage) to offer there.
export const RUNS = {
  colors: ["#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#999999"],
  remember: 20,
  storageKey: "attnflow.runs",
  // Settings each legend names, and those it names only where they differ from this session's.
  always: ["optimizer.lr", "config.norm", "config.d_model"],
  ifDifferent: ["preset", "corpus", "seed", "config.n_heads", "config.d_ff", "config.n_blocks", "config.activation",
    "config.use_attention", "config.use_ffn", "config.residual", "config.dropout", "optimizer.batch_size",
    "optimizer.weight_decay"],
};

// The Dynamics tab (views/dynamics.js): one colour per attention head and per weight matrix (the
// same in every block), and per block a dash (update ratios) and a colour (dead units).
export const DYNAMICS = {
  heads: ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"],
  matrices: { W_q: "#0072B2", W_k: "#56B4E9", W_v: "#009E73", W_o: "#E69F00", W_1: "#CC79A7", W_2: "#D55E00" },
  blockDashes: ["solid", "dash", "dot", "dashdot"],
  blockColours: [FLOW.update, "#009E73", "#E69F00", "#0072B2"],
};
