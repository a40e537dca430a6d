// History scrubber: slide back through stored snapshots. Other views read `state.scrub`
// ({step, snapshot}); null means live. The slider's last position, one past the last snapshot,
// is "live".
import { api } from "../api.js";
import { TIMING } from "../config.js";
import { state, subscribe, update } from "../state.js";
import { debounce, h } from "../util/dom.js";
import { nats } from "../util/format.js";

export function createScrubber(root, { onError, onMarker }) {
  const slider = h("input", { type: "range", id: "scrubber", min: 0, max: 0, value: 0, step: 1,
    "aria-label": "Stored snapshot to show" });
  const label = h("output", { id: "scrub-label", for: "scrubber", text: "live" });
  const live = h("button", { type: "button", class: "small", id: "scrub-live", text: "Back to live", disabled: true });
  root.append(h("span", { class: "scrub-title", text: "History" }), slider, label, live);

  async function refreshList() {
    if (!state.session) return;
    try {
      const hist = await api.history(state.session.id);
      setSnapshots(hist.snapshots || []);
    } catch (err) {
      onError(err);
    }
  }

  function setSnapshots(steps) {
    update({ snapshots: steps });
    slider.max = String(steps.length);
    if (!state.scrub) slider.value = slider.max;
    slider.setAttribute("aria-valuetext", state.scrub ? `step ${state.scrub.step}` : "live");
    slider.title = `${steps.length} stored snapshots: steps ${steps.slice(0, 6).join(", ")}${steps.length > 6 ? " …" : ""}`;
  }

  const show = debounce(async () => {
    if (Number(slider.value) >= state.snapshots.length) return update({ scrub: null });
    const step = state.snapshots[Number(slider.value)];
    if (step === undefined) return;
    label.textContent = `step ${step} …`;
    try {
      const snap = await api.snapshot(state.session.id, step);
      update({ scrub: { step: snap.step, snapshot: snap } });
    } catch (err) {
      onError(err);
    }
  }, TIMING.scrubDebounceMs);

  slider.addEventListener("input", show);
  // The list grows while training: fetch it when the learner reaches for the slider.
  slider.addEventListener("pointerdown", () => !state.scrub && refreshList());
  slider.addEventListener("focus", () => !state.scrub && refreshList());
  live.addEventListener("click", () => update({ scrub: null }));

  subscribe(["scrub"], () => {
    const sc = state.scrub;
    label.textContent = sc ? `step ${sc.step}${Number.isFinite(sc.snapshot.loss) ? ` · ${nats(sc.snapshot.loss)}` : ""}` : "live";
    label.dataset.step = sc ? String(sc.step) : "";
    live.disabled = !sc;
    root.classList.toggle("scrubbing", Boolean(sc));
    onMarker(sc ? sc.step : null);
    if (!sc) slider.value = slider.max;
  });

  return { refreshList, setSnapshots };
}
