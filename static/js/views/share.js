// Watch links. On the owner's page: "Share a watch link", a panel of read-only links to copy or
// revoke. On a watch page (/watch/{token}): a "watching" badge, every control that would change
// the session taken out of the page, and a notice when the owner revokes the link.
import { state, subscribe } from "../state.js";
import { h } from "../util/dom.js";

// What a watcher must not see (the server refuses these calls for a watch token anyway).
const OWNER_ONLY = ["btn-play", "btn-pause", "btn-step", "btn-reset", "reset-confirm", "tab-settings", "panel-settings",
  "abl-run", "abl-steps", "abl-corpus", "predict"];

function removeOwnerControls() {
  for (const id of OWNER_ONLY) document.getElementById(id)?.remove();
}

async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    input.select(); // no clipboard permission: leave it selected for Ctrl+C
    document.execCommand("copy");
  }
}

function linkRow(link, intents) {
  const url = `${location.origin}${link.path}`;
  const input = h("input", { type: "text", class: "share-url", readonly: true, value: url, "aria-label": "Watch link" });
  const copied = h("span", { class: "muted small share-copied", "aria-live": "polite" });
  const copyBtn = h("button", { type: "button", class: "small share-copy", text: "Copy",
    onclick: async () => {
      await copy(url, input);
      copied.textContent = "copied";
    } });
  const revoke = h("button", { type: "button", class: "small share-revoke", text: "Revoke",
    title: "The link stops working now; pages watching through it are told so", onclick: () => intents.onShareRevoke(link.token) });
  return h("li", { class: "share-link" }, input, copyBtn, revoke, copied);
}

function ownerPanel(root, intents) {
  const list = h("ul", { id: "share-links", class: "share-links" });
  const create = h("button", { type: "button", id: "share-new", class: "small primary", text: "New watch link",
    onclick: () => intents.onShareCreate() });
  const panel = h("div", { id: "share-panel", class: "share-panel", hidden: true, role: "dialog", "aria-label": "Watch links" },
    h("p", { class: "small", text: "Anyone with a watch link sees this session live (diagram, loss, attention, history) " +
      "but cannot train, reset, change or delete it. The session's own link stays yours." }), list, create);
  const toggle = h("button", { type: "button", id: "btn-share", class: "small", text: "Share a watch link",
    "aria-expanded": "false", onclick: () => {
      panel.hidden = !panel.hidden;
      toggle.setAttribute("aria-expanded", String(!panel.hidden));
      if (!panel.hidden) intents.onShareOpen();
    } });
  root.append(toggle, panel);
  subscribe(["watchLinks"], () => {
    const rows = state.watchLinks.map((link) => linkRow(link, intents));
    list.replaceChildren(...(rows.length ? rows : [h("li", { class: "muted small", text: "No watch links yet." })]));
  });
  subscribe(["session"], () => {
    panel.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
  });
}

function watcherBadge(root) {
  const badge = h("span", { id: "watch-badge", class: "watch-badge small", text: "Watching · read-only",
    title: "A watch link: you see this session live; only its owner can train or change it." });
  const ended = h("p", { id: "watch-ended", class: "watch-ended", role: "alert", hidden: true });
  root.append(badge, ended);
  subscribe(["streamEnded"], () => {
    ended.hidden = !state.streamEnded;
    ended.textContent = /revoked/.test(state.streamEnded || "")
      ? "The owner revoked this watch link: the page no longer follows the session."
      : `The live stream ended (${state.streamEnded}).`;
  });
}

export function createShareView(root, intents) {
  if (state.watching) {
    document.body.dataset.watch = "true";
    removeOwnerControls();
    watcherBadge(root);
  } else ownerPanel(root, intents);
  return {};
}
