// Hover under a still mouse: rrweb moves its :hover class only on mouse
// events, but when the page scrolls under a mouse that does not move (a
// wheel, a scripted scroll) the browser hovers whatever is now under it.
// The replay does the same: after scrolls and seeks the element under the
// last recorded mouse position gets rrweb's :hover class (which the page's
// :hover rules were copied for, see pseudo.ts).
import type { RrwebEvent } from "../lib/ndjson";
import { PSEUDO_CLASSES } from "./pseudo";

const INCREMENTAL = 3;
const MOUSE_MOVE = 1;
const MOUSE_INTERACTION = 2;
const SCROLL = 3;

/** mouseOf answers the last mouse position an event records, or undefined. */
export function mouseOf(e: RrwebEvent): { x: number; y: number } | undefined {
  if (e.type !== INCREMENTAL) return undefined;
  const d = e.data;
  if (d?.source === MOUSE_MOVE && Array.isArray(d.positions) && d.positions.length) {
    const p = d.positions[d.positions.length - 1];
    if (Number.isFinite(p?.x) && Number.isFinite(p?.y)) return { x: p.x, y: p.y };
  }
  if (d?.source === MOUSE_INTERACTION && Number.isFinite(d.x) && Number.isFinite(d.y)) return { x: d.x, y: d.y };
  return undefined;
}

interface ReplayerLike {
  iframe: HTMLIFrameElement;
  on(event: string, handler: () => void): unknown;
}

/** HoverReplay is an rrweb replay plugin; attach it to its replayer too. */
export class HoverReplay {
  private mouse: { x: number; y: number } | undefined;
  private replayer: ReplayerLike | undefined;

  attach(r: ReplayerLike) {
    this.replayer = r;
    r.on("flush", () => this.apply());
  }

  handler = (event: unknown, isSync: boolean) => {
    const e = event as RrwebEvent;
    if (e.type === 2) this.mouse = undefined;
    const m = mouseOf(e);
    if (m) this.mouse = m;
    else if (!isSync && e.type === INCREMENTAL && e.data?.source === SCROLL) this.apply();
  };

  private apply() {
    const doc = this.replayer?.iframe?.contentDocument;
    if (!doc || !this.mouse) return;
    const under = doc.elementFromPoint(this.mouse.x, this.mouse.y);
    const want = new Set<Element>();
    for (let el = under; el; el = el.parentElement) want.add(el);
    for (const el of Array.from(doc.getElementsByClassName(PSEUDO_CLASSES.hover))) if (!want.has(el)) el.classList.remove(PSEUDO_CLASSES.hover);
    for (const el of want) el.classList.add(PSEUDO_CLASSES.hover);
  }
}
