// Where each cell of a map is drawn on the rebuilt page, in its document
// coordinates. Clicks are anchored to elements: the element the selector
// path finds, at rx % of its width and ry % of its height, so a click on
// "Buy" lands on "Buy" at any width; when the selector finds nothing, the
// click's mean document position (x in thousandths of the document width)
// if it had one, else it is counted as not placed.
import type { Schemas } from "../api/client";

export type ClickCell = Schemas["v1HeatmapClick"];
export type MoveCell = Schemas["v1HeatmapCell"];

/** A box in document coordinates (CSS pixels from the document's top left). */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Points is a heat layer's input: x, y, weight triples, and the selector each click point was placed by. */
export interface Points {
  xyw: Float32Array;
  n: number;
  /** selectors[i] placed point i ("" for a fallback or a move cell). */
  selectors: string[];
  /** Clicks (summed counts) that could not be placed. */
  unplaced: number;
  /** Clicks drawn at their document position because their element was not found. */
  fallback: number;
}

const count = (c: { count?: string }) => {
  const n = Number(c.count ?? 0);
  return Number.isFinite(n) && n > 0 ? n : 0;
};
const clamp = (v: number | undefined, lo: number, hi: number) => Math.min(hi, Math.max(lo, Number.isFinite(v) ? (v as number) : lo));

/**
 * placeClicks places click cells with locate (the element's box for a
 * selector path, or null; asked once per selector). It yields to the page
 * every slice cells (pause), so 100,000 cells never block input.
 */
export async function placeClicks(
  cells: readonly ClickCell[],
  locate: (selector: string) => Box | null,
  docWidth: number,
  { slice = 2000, pause = () => new Promise<void>((r) => setTimeout(r, 0)) }: { slice?: number; pause?: () => Promise<void> } = {},
): Promise<Points> {
  const xyw = new Float32Array(cells.length * 3);
  const selectors: string[] = [];
  const boxes = new Map<string, Box | null>();
  let n = 0;
  let unplaced = 0;
  let fallback = 0;
  for (let i = 0; i < cells.length; i++) {
    if (i > 0 && i % slice === 0) await pause();
    const c = cells[i]!;
    const w = count(c);
    if (!w) continue;
    const sel = c.selector ?? "";
    let box: Box | null = null;
    if (sel) {
      if (!boxes.has(sel)) {
        let b: Box | null = null;
        try {
          b = locate(sel);
        } catch {
          // A selector the browser cannot parse finds nothing.
        }
        boxes.set(sel, b && b.width > 0 && b.height > 0 ? b : null);
      }
      box = boxes.get(sel) ?? null;
    }
    let x: number;
    let y: number;
    if (box) {
      x = box.left + (clamp(c.rx, 0, 100) / 100) * box.width;
      y = box.top + (clamp(c.ry, 0, 100) / 100) * box.height;
    } else if (c.positioned) {
      x = (clamp(c.x, 0, 1000) / 1000) * docWidth;
      y = clamp(c.y, 0, 1e7);
      fallback += w;
    } else {
      unplaced += w;
      continue;
    }
    xyw[n * 3] = x;
    xyw[n * 3 + 1] = y;
    xyw[n * 3 + 2] = w;
    selectors[n] = box ? sel : "";
    n++;
  }
  return { xyw, n, selectors, unplaced, fallback };
}

/** placeMoves places move cells: x thousandths of the document width, y pixels. */
export function placeMoves(cells: readonly MoveCell[], docWidth: number): Points {
  const xyw = new Float32Array(cells.length * 3);
  let n = 0;
  for (const c of cells) {
    const w = count(c);
    if (!w) continue;
    xyw[n * 3] = (clamp(c.x, 0, 1000) / 1000) * docWidth;
    xyw[n * 3 + 1] = clamp(c.y, 0, 1e7);
    xyw[n * 3 + 2] = w;
    n++;
  }
  return { xyw, n, selectors: [], unplaced: 0, fallback: 0 };
}

/**
 * heatMax answers the weight drawn at full heat. Stamps that overlap add
 * up, so it is the 99th percentile of the weight summed per cell of `bin`
 * pixels (about a stamp's size): the densest places are hot, a few very hot
 * spots do not leave the rest of the map pale, and 100,000 overlapping
 * points do not turn the page into one red blot.
 */
export function heatMax(p: Points, bin = 24): number {
  if (p.n === 0) return 1;
  const sums = new Map<number, number>();
  for (let i = 0; i < p.n; i++) {
    const k = Math.floor(p.xyw[i * 3]! / bin) * 1_000_003 + Math.floor(p.xyw[i * 3 + 1]! / bin);
    sums.set(k, (sums.get(k) ?? 0) + p.xyw[i * 3 + 2]!);
  }
  const w = Float64Array.from(sums.values()).sort();
  return Math.max(1, w[Math.min(w.length - 1, Math.floor(w.length * 0.99))]!);
}

/**
 * nearestPoint answers the index of the drawn point nearest (x, y) within
 * r (document pixels), the heaviest when several are as near, or -1: a
 * click on the map opens recordings only where a spot is drawn.
 */
export function nearestPoint(pts: Pick<Points, "xyw" | "n">, x: number, y: number, r: number): number {
  let best = -1;
  let bestD = r * r;
  for (let i = 0; i < pts.n; i++) {
    const dx = pts.xyw[i * 3]! - x;
    const dy = pts.xyw[i * 3 + 1]! - y;
    const d = dx * dx + dy * dy;
    if (d < bestD || (d === bestD && best >= 0 && pts.xyw[i * 3 + 2]! > pts.xyw[best * 3 + 2]!)) {
      best = i;
      bestD = d;
    }
  }
  return best;
}
