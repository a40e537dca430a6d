// The visible status area: API errors in words, short notices, and progress of long operations.
import { TIMING } from "../config.js";
import { h } from "../util/dom.js";

export function createStatus(root, progressRoot) {
  const tasks = new Map();
  let nextId = 0;

  function toast(kind, title, lines = []) {
    const same = [...root.children].find((n) => n.dataset.text === title);
    if (same) return same; // the same message again (e.g. from several views): show it once
    const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", text: "×" });
    const node = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" },
      h("strong", { text: title }), ...lines.map((l) => h("div", { text: l })), close);
    node.dataset.text = title;
    close.addEventListener("click", () => node.remove());
    root.append(node);
    while (root.children.length > 4) root.firstElementChild.remove();
    setTimeout(() => node.remove(), kind === "error" ? TIMING.toastMs * 2 : TIMING.toastMs);
    return node;
  }

  // Any error, in words: the API's detail plus its per-field messages.
  function error(err, context) {
    const title = err.message || String(err);
    const lines = (err.errors || []).filter((e) => !title.includes(e.message)).map((e) => `${e.field}: ${e.message}`);
    return toast("error", context ? `${context}: ${title}` : title, lines);
  }

  const info = (msg) => toast("info", msg);

  // progress(label) -> {update(fraction | null, text), done()}
  function progress(label) {
    const id = nextId++;
    const bar = h("progress", { max: 1, "aria-label": label });
    const text = h("span", { text: `${label}…` });
    const node = h("div", { class: "task", role: "status" }, text, bar);
    progressRoot.append(node);
    tasks.set(id, node);
    return {
      update(fraction, msg) {
        if (fraction === null || fraction === undefined) bar.removeAttribute("value");
        else bar.value = fraction;
        if (msg) text.textContent = msg;
      },
      done() {
        node.remove();
        tasks.delete(id);
      },
    };
  }

  return { error, info, progress };
}
