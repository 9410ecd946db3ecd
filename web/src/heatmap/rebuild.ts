// The page a heatmap is drawn over: a recorded full snapshot of it (or, for a
// single-page app's route, the snapshot replayed up to the route change), rebuilt
// by rrweb's Replayer with the replay's own fidelity plugins (captured
// assets, canvases, media), paused a moment after the snapshot so late
// styles and the first mutations are in, at the visitor's width, and sized
// to the document's full height so the whole page scrolls under the map.
import { Replayer } from "@rrweb/replay";
import "@rrweb/replay/dist/style.css";
import type { Schemas } from "../api/client";
import type { RrwebEvent } from "../lib/ndjson";
import { Fidelity, REPLAY_STYLE_RULES } from "../replay/fidelity";
import { inertEvents } from "../replay/inert";
import { streamRecording } from "../replay/useRecording";
import { elementName } from "./name";
import type { Box } from "./place";

export type Snapshot = Schemas["v1HeatmapSnapshot"];

const META = 4;
const FULL_SNAPSHOT = 2;
const INCREMENTAL = 3;
/** rrweb's incremental sources a visitor's own hand makes: mouse and touch interactions, input, media play, drag. */
const MOUSE_INTERACTION = 2;
const USER_SOURCES = new Set([MOUSE_INTERACTION, 5, 7, 12]);
/** MouseInteraction's Focus and Blur: a page focuses fields itself (autofocus), so they do not count as the visitor's. */
const FOCUS_TYPES = new Set([5, 6]);
/** How long after the snapshot the page is shown: its first mutations (late content) are in by then. */
export const SETTLE_MS = 1500;
/** The slack between a pointer's time and its event's: they may differ by a tick. */
const SLACK_MS = 1000;
/**
 * The most chunks read to reach the snapshot's time and its settle time: a
 * route change of a single-page app may come up to ten minutes after the
 * last full snapshot (the tracker's checkout), 120 batches of 5 s.
 */
const MAX_CHUNKS = 150;
/** How long stylesheets, images and fonts may take before the page is measured. */
const LOAD_WAIT_MS = 6000;
/** The tallest page drawn; longer ones are cut here. */
export const MAX_PAGE_HEIGHT = 60_000;

/** byVisitor tells whether an event is the visitor's own interaction (a click, a tap, typing…), after which the page shows their doing. */
export function byVisitor(e: RrwebEvent): boolean {
  if (e.type !== INCREMENTAL) return false;
  const d = e.data as { source?: number; type?: number } | undefined;
  if (!d || d.source === undefined || !USER_SOURCES.has(d.source)) return false;
  return !(d.source === MOUSE_INTERACTION && d.type !== undefined && FOCUS_TYPES.has(d.type));
}

/**
 * snapshotWindow picks the events that rebuild the page shown at atMs: from
 * the Meta before the last full snapshot at or before atMs (the first one
 * without atMs, or when none is that early) up to settleMs after atMs (or
 * the snapshot), stopping before the next page (Meta) and, once atMs is
 * reached, before the visitor's first interaction (byVisitor): the map is
 * drawn over the page as it loaded, not as one visitor changed it ("Added to
 * cart"). atMs later than the snapshot is a single-page app's route change:
 * the route's page is the snapshot replayed up to the change, the visitor's
 * own doing on the way included (it is how they got there). It answers the
 * events sorted and the replay offset to pause at, or undefined without a
 * full snapshot.
 */
export function snapshotWindow(events: readonly RrwebEvent[], atMs: number | undefined, settleMs = SETTLE_MS): { events: RrwebEvent[]; pauseAt: number } | undefined {
  if (atMs !== undefined && !Number.isFinite(atMs)) atMs = undefined; // a time that did not parse
  const sorted = [...events].sort((a, b) => a.timestamp - b.timestamp);
  let snap = -1;
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i]!.type !== FULL_SNAPSHOT) continue;
    if (snap < 0 || (atMs !== undefined && sorted[i]!.timestamp <= atMs + SLACK_MS)) snap = i;
    if (atMs === undefined || sorted[i]!.timestamp > atMs + SLACK_MS) break;
  }
  if (snap < 0) return undefined;
  let start = snap;
  for (let i = snap - 1; i >= 0; i--) {
    const t = sorted[i]!.type;
    if (t === META) start = i;
    if (t === META || t === FULL_SNAPSHOT) break;
  }
  const shown = Math.max(sorted[snap]!.timestamp, atMs ?? -Infinity);
  const out = sorted.slice(start, snap + 1);
  for (let i = snap + 1; i < sorted.length; i++) {
    const e = sorted[i]!;
    if (e.type === META || e.type === FULL_SNAPSHOT || e.timestamp > shown + settleMs || (e.timestamp > shown && byVisitor(e))) break;
    out.push(e);
  }
  return { events: out, pauseAt: out[out.length - 1]!.timestamp - out[0]!.timestamp };
}

/** snapTime is the time of the page a snapshot points at, undefined when it has none that parses. */
function snapTime(snap: Snapshot): number | undefined {
  const t = snap.time ? Date.parse(snap.time) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

/**
 * readSnapshotEvents streams the snapshot's recording from its offset (the
 * server starts at the last chunk holding a full snapshot at or before it)
 * until the settle time after the snapshot's time is covered.
 */
export async function readSnapshotEvents(siteId: string, snap: Snapshot, signal: AbortSignal): Promise<RrwebEvent[]> {
  const ctl = new AbortController();
  const stop = () => ctl.abort(signal.reason);
  signal.addEventListener("abort", stop);
  const atMs = snapTime(snap);
  const events: RrwebEvent[] = [];
  let chunks = 0;
  let snapAt: number | undefined;
  try {
    for await (const c of streamRecording(siteId, snap.sessionId ?? "", ctl.signal, snap.offset || undefined)) {
      events.push(...c.events);
      for (const e of c.events) if (e.type === FULL_SNAPSHOT && snapAt === undefined) snapAt = e.timestamp;
      const last = c.events.reduce((m, e) => Math.max(m, e.timestamp), 0);
      if (++chunks >= MAX_CHUNKS || (snapAt !== undefined && last > Math.max(snapAt, atMs ?? snapAt) + SETTLE_MS)) break;
    }
  } finally {
    signal.removeEventListener("abort", stop);
    ctl.abort(); // the rest of the recording is not needed
  }
  return events;
}

export interface RebuiltPage {
  /** The page's size in CSS pixels: the visitors' width, the document's full height. */
  width: number;
  height: number;
  /** locate answers the document box of the element a selector finds, or null. */
  locate(selector: string): Box | null;
  /** elementAt answers the element at a document position. */
  elementAt(x: number, y: number): Element | null;
  /** name answers what a visitor saw on the element a selector finds (elementName), "" when none. */
  name(selector: string): string;
  destroy(): void;
}

function loaded(doc: Document, ms: number): Promise<void> {
  const waits: Promise<unknown>[] = [];
  const once = (el: Element) => new Promise((r) => (el.addEventListener("load", r, { once: true }), el.addEventListener("error", r, { once: true })));
  for (const l of Array.from(doc.querySelectorAll<HTMLLinkElement>('link[rel~="stylesheet"]'))) if (!l.sheet) waits.push(once(l));
  for (const img of Array.from(doc.images)) if (!img.complete) waits.push(once(img));
  if (doc.fonts) waits.push(doc.fonts.ready);
  return Promise.race([Promise.all(waits).then(() => undefined), new Promise<void>((r) => setTimeout(r, ms))]);
}

const frame = () => new Promise<void>((r) => requestAnimationFrame(() => r()));

/**
 * rebuildPage rebuilds the snapshot's page into root (an empty element)
 * and answers it once its styles and images are in and its height is known.
 */
export async function rebuildPage(root: HTMLElement, events: RrwebEvent[], snap: Snapshot, signal: AbortSignal): Promise<RebuiltPage> {
  const atMs = snapTime(snap);
  const win = snapshotWindow(events, atMs);
  if (!win) throw new Error("The recording holds no snapshot of this page any more.");
  // The window holds the event at atMs (the snapshot, or the route change) unless the chunks read
  // ended before it (a route change further from its snapshot than MAX_CHUNKS): what was read shows
  // an earlier page.
  if (atMs !== undefined && win.events[win.events.length - 1]!.timestamp < atMs - SLACK_MS)
    throw new Error("The recording could not be read up to this page: draw over another recording.");
  inertEvents(win.events);
  const fidelity = new Fidelity({ pointer: false });
  const r = new Replayer(win.events as never[], {
    root,
    insertStyleRules: REPLAY_STYLE_RULES,
    plugins: fidelity.plugins as never[],
    showWarning: false,
    triggerFocus: false,
    mouseTail: false,
    skipInactive: false,
  });
  fidelity.attach(r);
  const cleanups: (() => void)[] = [];
  const destroy = () => {
    for (const c of cleanups) c();
    fidelity.destroy();
    try {
      r.destroy();
    } catch {
      // Already gone with its root.
    }
  };
  try {
    r.pause(win.pauseAt);
    const iframe = r.iframe;
    const doc = iframe.contentDocument;
    const view = iframe.contentWindow;
    if (!doc || !view) throw new Error("The page could not be rebuilt.");
    const meta = win.events.find((e) => e.type === META)?.data as { width?: number; height?: number } | undefined;
    const width = Math.max(1, Math.round(meta?.width || snap.viewportWidth || 1280));
    let height = 0;
    // rrweb sets the iframe's size from the recording's viewport, also after the pause; ours wins.
    const size = () => {
      if (iframe.getAttribute("width") !== String(width)) iframe.setAttribute("width", String(width));
      if (height && iframe.getAttribute("height") !== String(height)) iframe.setAttribute("height", String(height));
    };
    const keep = new MutationObserver(size);
    keep.observe(iframe, { attributes: true, attributeFilter: ["width", "height"] });
    cleanups.push(() => keep.disconnect());
    size();
    await loaded(doc, LOAD_WAIT_MS);
    if (signal.aborted) throw signal.reason;
    // The iframe grows to the document's height; a page sized in vh grows with it, so measure again.
    for (let i = 0; i < 3; i++) {
      const h = Math.min(MAX_PAGE_HEIGHT, Math.max(1, doc.documentElement.scrollHeight, doc.body?.scrollHeight ?? 0));
      if (Math.abs(h - height) <= 1) break;
      height = h;
      size();
      await frame();
    }
    view.scrollTo({ left: 0, top: 0, behavior: "instant" as ScrollBehavior });
    return {
      width,
      height,
      locate(selector) {
        const el = doc.querySelector(selector);
        if (!el) return null;
        const b = el.getBoundingClientRect();
        return { left: b.left + view.scrollX, top: b.top + view.scrollY, width: b.width, height: b.height };
      },
      elementAt(x, y) {
        return doc.elementFromPoint(x - view.scrollX, y - view.scrollY);
      },
      name(selector) {
        try {
          const el = doc.querySelector(selector);
          return el ? elementName(el) : "";
        } catch {
          return ""; // not a selector this browser reads: the list shows the path alone
        }
      },
      destroy,
    };
  } catch (e) {
    destroy();
    throw e;
  }
}
