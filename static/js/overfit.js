// Has held-out loss risen clearly from its minimum? Pure: no DOM.
// "Clearly": by more than 3 % of the minimum (and 0.02 nats), over at least 3 evaluations since
// the minimum, so one noisy evaluation does not raise the alarm.
export function overfitting(steps, losses) {
  let k = -1;
  losses.forEach((x, i) => {
    if (Number.isFinite(x) && (k < 0 || x < losses[k])) k = i;
  });
  const last = losses.length - 1;
  if (k < 0 || last - k < 3) return null;
  const rise = losses[last] - losses[k];
  if (rise <= Math.max(0.02, 0.03 * losses[k])) return null;
  return { minStep: steps[k], min: losses[k], step: steps[last], loss: losses[last], rise };
}
