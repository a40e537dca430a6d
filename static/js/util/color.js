// Colour scales as functions of [0, 1] (sequential) or [-1, 1] (diverging); no DOM.
import { SCALES } from "../config.js";

function parse(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function lerpScale(stops) {
  const rgb = stops.map(parse);
  return (t) => {
    const x = Math.min(Math.max(Number.isFinite(t) ? t : 0, 0), 1) * (rgb.length - 1);
    const i = Math.min(Math.floor(x), rgb.length - 2);
    const f = x - i;
    const a = rgb[i];
    const b = rgb[i + 1];
    return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
  };
}

export const viridis = lerpScale(SCALES.viridis);
const blueOrangeRaw = lerpScale(SCALES.blueOrange);
export const blueOrange = (t) => blueOrangeRaw((t + 1) / 2); // t in [-1, 1]

export const css = ([r, g, b]) => `rgb(${r | 0}, ${g | 0}, ${b | 0})`;

// Text colour that stays legible on a given background.
export function ink([r, g, b]) {
  return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? "#111" : "#fff";
}

// CSS gradient string for a legend bar.
export function gradient(scale, diverging = false) {
  const stops = [];
  for (let i = 0; i <= 10; i += 1) {
    const t = i / 10;
    stops.push(`${css(scale(diverging ? t * 2 - 1 : t))} ${i * 10}%`);
  }
  return `linear-gradient(to right, ${stops.join(", ")})`;
}
