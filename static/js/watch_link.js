// Read-only watch links (issue 15): is this page one, and what a pasted link refers to. No network.

const WATCH_PATH = /^\/watch\/([A-Za-z0-9_-]{32,64})\/?$/;

// The watch token when this page was opened as /watch/{token}, else null.
export function watchToken(path = location.pathname) {
  const m = WATCH_PATH.exec(path);
  return m ? m[1] : null;
}

// A pasted watch link (full URL or path) or a bare id/token -> what the API accepts in its place.
export function runRef(text) {
  const raw = String(text || "").trim();
  if (!raw) return null;
  try {
    const url = new URL(raw, location.origin);
    const token = watchToken(url.pathname);
    if (token) return token;
    const session = url.searchParams.get("session");
    if (session) return session;
  } catch {
    // not a URL: maybe a bare token or id
  }
  return /^[A-Za-z0-9_-]{16,64}$/.test(raw) ? raw : null;
}

// The page's intents with everything that would change the session turned into no-ops: a
// watcher's keyboard shortcuts (space, s) must not even try (the server would say 403 anyway).
export const MUTATING_INTENTS = ["onPlay", "onPause", "onStep", "onReset", "onCreate", "onImport", "onCompare"];

export function readOnlyIntents(intents) {
  const quiet = () => null;
  const out = { ...intents, ...Object.fromEntries(MUTATING_INTENTS.map((k) => [k, quiet])) };
  if (intents.tour) {
    out.tour = { ...intents.tour, stepOnce: quiet, compareRuns: quiet, compareCost: () => null,
      predictAttention: quiet, readOnly: true }; // the tour leaves out the steps that train
  }
  return out;
}
