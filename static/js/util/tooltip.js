// One floating tooltip for canvases and charts that are not SVG (<title> covers the SVG).
let tip = null;

function node() {
  if (!tip) {
    tip = document.createElement("div");
    tip.className = "tooltip";
    tip.setAttribute("role", "tooltip");
    document.body.append(tip);
  }
  return tip;
}

export function showTip(event, text) {
  const t = node();
  t.textContent = text;
  t.hidden = false;
  const pad = 14;
  const { innerWidth: W, innerHeight: H } = window;
  const r = t.getBoundingClientRect();
  const x = Math.min(event.clientX + pad, W - r.width - 4);
  const y = Math.min(event.clientY + pad, H - r.height - 4);
  t.style.transform = `translate(${x}px, ${y}px)`;
}

export function hideTip() {
  if (tip) tip.hidden = true;
}
