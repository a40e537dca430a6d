// Part of the controller: other runs on the loss chart. This browser remembers the sessions it
// opened (localStorage), and a pasted watch link works too; each run's curve is its metrics.json.
import { RUNS } from "../config.js";
import { state, update } from "../state.js";
import { runRef } from "../watch_link.js";

function stored() {
  try {
    const list = JSON.parse(localStorage.getItem(RUNS.storageKey) || "[]");
    return Array.isArray(list) ? list.filter((r) => r && typeof r.id === "string") : [];
  } catch {
    return [];
  }
}

function store(list) {
  try {
    localStorage.setItem(RUNS.storageKey, JSON.stringify(list.slice(0, RUNS.remember)));
  } catch {
    // private mode or full: the page works without the list
  }
}

// metrics.json ({columns, rows}) -> the training loss per logged step.
export function lossCurve(metrics) {
  const step = metrics.columns.indexOf("step");
  const loss = metrics.columns.indexOf("loss");
  return { steps: metrics.rows.map((r) => r[step]), loss: metrics.rows.map((r) => r[loss]) };
}

export function createRuns({ api, guard }) {
  // This browser's own sessions, newest first (not a watched one: its token is not ours to keep).
  function remember(info) {
    if (state.watching) return;
    const entry = { id: info.id, preset: info.preset, lr: info.optimizer.lr, norm: info.config.norm, at: Date.now() };
    store([entry, ...stored().filter((r) => r.id !== info.id)]);
  }

  function forget(id) {
    store(stored().filter((r) => r.id !== id));
  }

  async function fetchRun(ref) {
    const [info, metrics] = await Promise.all([api.session(ref), api.metrics(ref)]);
    return { ref, info, ...lossCurve(metrics) };
  }

  async function add(text) {
    const ref = runRef(text);
    if (!ref) throw new Error("Paste a watch link (…/watch/…) or pick one of your sessions.");
    if (state.session && ref === state.session.id) throw new Error("That is this session: its curve is already on the chart.");
    if (state.runs.some((r) => r.ref === ref)) return;
    try {
      const run = await fetchRun(ref);
      update({ runs: [...state.runs, run] });
    } catch (err) {
      if (err.status === 404) forget(ref);
      throw err;
    }
  }

  return {
    remember,
    // The sessions to offer: remembered ones other than this one and those already shown.
    known: () => stored().filter((r) => r.id !== (state.session && state.session.id) && !state.runs.some((x) => x.ref === r.id)),
    intents: {
      onAddRun: (text) => guard("Could not add the run", () => add(text)),
      onRemoveRun: (ref) => update({ runs: state.runs.filter((r) => r.ref !== ref) }),
      onRefreshRuns: () => guard("Could not refresh the runs", async () => {
        update({ runs: await Promise.all(state.runs.map((r) => fetchRun(r.ref))) });
      }),
    },
  };
}
