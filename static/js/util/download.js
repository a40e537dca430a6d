// Save a canvas or an SVG as PNG, and any URL as a file.

export function saveUrl(url, filename) {
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
}

export function saveText(text, filename, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  saveUrl(url, filename);
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function saveCanvas(canvas, filename, scale = 8) {
  // Upscale without smoothing so each cell stays a crisp square.
  const out = document.createElement("canvas");
  out.width = canvas.width * scale;
  out.height = canvas.height * scale;
  const ctx = out.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(canvas, 0, 0, out.width, out.height);
  saveUrl(out.toDataURL("image/png"), filename);
}

// Inline computed colours and fonts, since CSS variables do not travel with a serialised SVG.
function inlineStyles(source, target) {
  const props = ["fill", "stroke", "stroke-width", "stroke-dasharray", "stroke-dashoffset", "marker-end", "opacity", "font-size",
    "font-family", "font-weight", "text-anchor", "dominant-baseline"];
  const src = [source, ...source.querySelectorAll("*")];
  const dst = [target, ...target.querySelectorAll("*")];
  src.forEach((node, i) => {
    const cs = getComputedStyle(node);
    dst[i].setAttribute("style", props.map((p) => `${p}:${cs.getPropertyValue(p)}`).join(";"));
  });
}

export function saveSvg(svg, filename, background) {
  const clone = svg.cloneNode(true);
  inlineStyles(svg, clone);
  const box = svg.viewBox.baseVal;
  const [w, h] = [box.width * 2, box.height * 2];
  clone.setAttribute("width", w);
  clone.setAttribute("height", h);
  const blob = new Blob([new XMLSerializer().serializeToString(clone)], { type: "image/svg+xml" });
  const url = URL.createObjectURL(blob);
  const img = new Image();
  img.onload = () => {
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = background;
    ctx.fillRect(0, 0, w, h);
    ctx.drawImage(img, 0, 0, w, h);
    URL.revokeObjectURL(url);
    saveUrl(canvas.toDataURL("image/png"), filename);
  };
  img.src = url;
}
