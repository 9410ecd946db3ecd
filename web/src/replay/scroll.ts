// Scroll positions after a seek. Two things go wrong in rrweb 2.1.6 when a
// seek applies the recording up to the target at once:
// - a page's `scroll-behavior: smooth` (Bootstrap sets it on :root) animates
//   rrweb's catch-up scroll, and the animation is cut short (rrweb #1472);
// - when the seek window holds DOM mutations, rrweb builds the changes on a
//   virtual DOM and its diff drops the document's scroll position.
// - that diff may also put back a position from an earlier seek.
// So the replay scrolls instantly (a style rule), and after each seek the
// last recorded position of each scrolled node is applied again, instantly.
import type { RrwebEvent } from "../lib/ndjson";

export const INSTANT_SCROLL_RULES = ["html, body, * { scroll-behavior: auto !important; }"];

const INCREMENTAL = 3;
const SCROLL = 3;
const DOCUMENT_NODE = 9;

interface ReplayerLike {
  getMirror(): { getNode(id: number): Node | null };
  on(event: string, handler: () => void): unknown;
}

export interface ScrollPos {
  x: number;
  y: number;
}

/** scrollOf answers a scroll event's target id and position, or undefined. */
export function scrollOf(e: RrwebEvent): ({ id: number } & ScrollPos) | undefined {
  if (e.type !== INCREMENTAL || e.data?.source !== SCROLL) return undefined;
  const { id, x, y } = e.data;
  if (typeof id !== "number" || !Number.isFinite(x) || !Number.isFinite(y)) return undefined;
  return { id, x, y };
}

/** ScrollReplay is an rrweb replay plugin; attach it to its replayer too. */
export class ScrollReplay {
  // The last position cast for each scrolled node of the current document.
  private positions = new Map<number, ScrollPos>();
  private replayer: ReplayerLike | undefined;

  attach(r: ReplayerLike) {
    this.replayer = r;
    r.on("flush", () => this.flush());
  }

  handler = (event: unknown) => {
    const e = event as RrwebEvent;
    if (e.type === 2) this.positions.clear(); // a rebuilt document starts at the top
    const s = scrollOf(e);
    if (s) this.positions.set(s.id, { x: s.x, y: s.y });
  };

  flush() {
    const r = this.replayer;
    if (!r) return;
    for (const [id, p] of this.positions) {
      const node = r.getMirror().getNode(id);
      const opts = { left: p.x, top: p.y, behavior: "instant" as ScrollBehavior };
      try {
        if (node?.nodeType === DOCUMENT_NODE) (node as Document).defaultView?.scrollTo(opts);
        else (node as Element | null)?.scrollTo?.(opts);
      } catch {
        // A node that cannot scroll stays as it is.
      }
    }
  }
}
