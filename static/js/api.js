// Network only: every fetch and the WebSocket stream live here. No DOM, no state.
// A 4xx/5xx answer becomes an ApiError carrying the API's `detail` and `errors[{field, message}]`.

export class ApiError extends Error {
  constructor(status, detail, errors = [], retryAfter = null) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.errors = errors;
    this.retryAfter = retryAfter;
  }
}

function query(params = {}) {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== null);
  if (!entries.length) return "";
  return "?" + new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString();
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const retry = response.headers.get("Retry-After");
  let detail = body && typeof body.detail === "string" ? body.detail : null;
  if (!detail && body && Array.isArray(body.detail)) detail = body.detail.map((d) => d.msg).join("; ");
  if (!detail) detail = `${response.status} ${response.statusText || "error"}`;
  if (response.status === 503 && retry) detail += ` (try again in ${retry} s)`;
  const errors = body && Array.isArray(body.errors) ? body.errors : [];
  return new ApiError(response.status, detail, errors, retry);
}

async function request(method, path, { body, params, raw = false, signal } = {}) {
  const init = { method, headers: {}, signal };
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    init.body = body;
    init.headers["Content-Type"] = "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path + query(params), init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, `The server could not be reached (${method} ${path}).`);
  }
  if (!response.ok) throw await errorFrom(response);
  if (raw || response.status === 204) return response;
  return response.json();
}

const S = (id) => `/api/sessions/${encodeURIComponent(id)}`;

export const api = {
  presets: () => request("GET", "/api/presets"),
  corpora: () => request("GET", "/api/corpora"),
  names: () => request("GET", "/api/names"),
  createSession: (body) => request("POST", "/api/sessions", { body }),
  importSession: (blob) => request("POST", "/api/sessions/import", { body: blob }),
  session: (id) => request("GET", S(id)),
  deleteSession: (id) => request("DELETE", S(id)),
  forward: (id, text, { stages, maxDim, topK, signal } = {}) =>
    request("POST", `${S(id)}/forward`, {
      body: { text, ...(topK ? { top_k: topK } : {}) },
      params: { stages: stages && stages.join(","), max_dim: maxDim },
      signal,
    }),
  train: (id, steps, lr) => request("POST", `${S(id)}/train`, { body: lr ? { steps, lr } : { steps } }),
  run: (id, { steps, lr } = {}) => request("POST", `${S(id)}/run`, { body: clean({ steps, lr }) }),
  pause: (id) => request("POST", `${S(id)}/pause`),
  reset: (id) => request("POST", `${S(id)}/reset`),
  history: (id) => request("GET", `${S(id)}/history`),
  dynamics: (id) => request("GET", `${S(id)}/dynamics`),
  snapshots: (id) => request("GET", `${S(id)}/snapshots`),
  snapshot: (id, step) => request("GET", `${S(id)}/snapshots/${step}`),
  // The model as it was at a stored step: /forward and /weights on its kept weights.
  snapshotForward: (id, step, text, { stages, topK, signal } = {}) =>
    request("POST", `${S(id)}/snapshots/${step}/forward`, {
      body: { text, ...(topK ? { top_k: topK } : {}) },
      params: { stages: stages && stages.join(",") },
      signal,
    }),
  snapshotWeights: (id, step, { maxSize, names } = {}) =>
    request("GET", `${S(id)}/snapshots/${step}/weights`, {
      params: { max_size: maxSize, names: names && names.join(",") },
    }),
  weights: (id, { maxSize, values = true, names } = {}) =>
    request("GET", `${S(id)}/weights`, {
      params: { max_size: maxSize, values, names: names && names.join(",") },
    }),
  gradcheck: (id, parameter, row, col) => request("POST", `${S(id)}/gradcheck`, { body: { parameter, row, col } }),
  putCheckpoint: (id, blob) => request("PUT", `${S(id)}/checkpoint`, { body: blob }),
  startCompare: (id, steps, corpus) => request("POST", `${S(id)}/compare`, { body: corpus ? { steps, corpus } : { steps } }),
  compare: (id) => request("GET", `${S(id)}/compare`),
  metrics: (id) => request("GET", `${S(id)}/metrics.json`),
  watchLinks: (id) => request("GET", `${S(id)}/watch`),
  createWatchLink: (id) => request("POST", `${S(id)}/watch`),
  revokeWatchLink: (id, token) => request("DELETE", `${S(id)}/watch/${encodeURIComponent(token)}`),
  urls: {
    metricsCsv: (id) => `${S(id)}/metrics.csv`,
    metricsJson: (id) => `${S(id)}/metrics.json`,
    checkpoint: (id) => `${S(id)}/checkpoint`,
    docs: "/docs",
  },
  // Best effort, survives page unload.
  deleteOnUnload: (id) => fetch(S(id), { method: "DELETE", keepalive: true }).catch(() => {}),
};

function clean(obj) {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined && v !== null));
}

// Opens the session's stream and reconnects with back-off until closed or told "bye".
// onMessage(msg) gets parsed JSON; onStatus("open" | "retrying" | "closed", info).
export function openStream(id, onMessage, onStatus, retryMs = [500, 1000, 2000, 5000]) {
  let ws = null;
  let closed = false;
  let attempt = 0;
  let timer = null;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${S(id)}/stream`;

  function connect() {
    ws = new WebSocket(url);
    ws.onopen = () => {
      attempt = 0;
      onStatus("open");
    };
    ws.onmessage = (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      if (msg.type === "bye") closed = true;
      onMessage(msg);
    };
    ws.onclose = () => {
      if (closed) return onStatus("closed");
      const wait = retryMs[Math.min(attempt, retryMs.length - 1)];
      attempt += 1;
      onStatus("retrying", { wait, attempt });
      timer = setTimeout(connect, wait);
    };
  }
  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (ws) ws.close();
    },
  };
}
