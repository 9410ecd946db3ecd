// The scroll map: for each depth of the page (0–100 % of its height) the
// share of page views that reached it, as colours over the page (warm where
// everyone looked, cold where few did) and as a table.

/** shareAt answers reached[d] clamped to 0–1 (0 where the answer has no value). */
function shareAt(reached: readonly number[], d: number): number {
  const v = reached[d];
  return typeof v === "number" && Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
}

/** heatColor maps a share (0–1) to a colour from blue (few) through green and yellow to red (all). */
export function heatColor(share: number, alpha = 0.5): string {
  const s = Math.min(1, Math.max(0, share));
  const hue = Math.round(240 * (1 - s));
  return `hsla(${hue}, 90%, 50%, ${alpha})`;
}

/** scrollGradient answers a CSS gradient from the page's top to its bottom, one stop per percent. */
export function scrollGradient(reached: readonly number[]): string {
  const stops: string[] = [];
  for (let d = 0; d <= 100; d++) stops.push(`${heatColor(shareAt(reached, d))} ${d}%`);
  return `linear-gradient(to bottom, ${stops.join(", ")})`;
}

/** reachedByTen answers the share that reached each 10 % of the page, for the table view. */
export function reachedByTen(reached: readonly number[]): { depth: number; share: number }[] {
  const out = [];
  for (let d = 0; d <= 100; d += 10) out.push({ depth: d, share: shareAt(reached, d) });
  return out;
}

/** percent writes a share as a whole percentage. */
export const percent = (share: number) => `${Math.round(Math.min(1, Math.max(0, share)) * 100)} %`;
