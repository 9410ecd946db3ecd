// Markers on the replay timeline and in the side list, derived from the
// rrweb events of a recording: page changes, clicks, rage clicks, dead clicks,
// errors and custom events.
import type { RrwebEvent } from "./ndjson";

// rrweb's numeric enums (rrweb/types), restated so the logic runs without a DOM.
const EventType = { FullSnapshot: 2, IncrementalSnapshot: 3, Meta: 4, Custom: 5 } as const;
const Source = { Mutation: 0, MouseInteraction: 2 } as const;
const MouseInteraction = { Click: 2 } as const;

/** The thresholds the session summary uses too (sessions.proto). */
export const RAGE_MIN_CLICKS = 3;
export const RAGE_WINDOW_MS = 1000;
export const RAGE_RADIUS_PX = 30;
export const DEAD_CLICK_WINDOW_MS = 1500;

export type MarkerKind = "page" | "click" | "rage" | "dead" | "error" | "custom";

export interface Marker {
  kind: MarkerKind;
  /** Event time, milliseconds since the epoch. */
  time: number;
  /** Milliseconds from the first event of the recording. */
  offset: number;
  label: string;
  detail?: string;
  /** Clicks in a rage-click burst. */
  count?: number;
}

export const MARKER_LABELS: Record<MarkerKind, string> = {
  page: "Page",
  click: "Click",
  rage: "Rage click",
  dead: "Dead click",
  error: "Error",
  custom: "Event",
};

interface Click {
  time: number;
  x: number;
  y: number;
}

function pathOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}` || "/";
  } catch {
    return url;
  }
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/** rageBursts groups clicks into bursts of RAGE_MIN_CLICKS or more within a second and ~30 px of the first. */
export function rageBursts(clicks: Click[]): Click[][] {
  const bursts: Click[][] = [];
  let i = 0;
  while (i < clicks.length) {
    const first = clicks[i]!;
    let j = i + 1;
    while (
      j < clicks.length &&
      clicks[j]!.time - first.time <= RAGE_WINDOW_MS &&
      Math.hypot(clicks[j]!.x - first.x, clicks[j]!.y - first.y) <= RAGE_RADIUS_PX
    ) {
      j++;
    }
    if (j - i >= RAGE_MIN_CLICKS) {
      bursts.push(clicks.slice(i, j));
      i = j;
    } else {
      i++;
    }
  }
  return bursts;
}

/**
 * extractMarkers reads markers from events (in any order). With complete
 * false (still streaming), a click is called dead only once the recording
 * has gone on for the full dead-click window after it.
 */
export interface PageViewStart {
  /** The tracker's page-view id of a chunk. */
  id: string;
  /** Time of the chunk's first event. */
  time: number;
}

export function extractMarkers(
  input: RrwebEvent[],
  opts: { complete: boolean; pageViews?: PageViewStart[] } = { complete: true },
): Marker[] {
  const events = [...input].sort((a, b) => a.timestamp - b.timestamp);
  if (events.length === 0) return [];
  const start = events[0]!.timestamp;
  const end = events[events.length - 1]!.timestamp;
  const markers: Marker[] = [];
  const clicks: Click[] = [];
  // Times of events that show the page reacted: DOM mutations and navigations.
  const reactions: number[] = [];
  let lastUrl = "";
  let lastPageView = "";
  // A page view is known from the chunks; a Meta event with the same URL is a
  // new page only if the page-view id changed (a reload), not on rrweb's
  // periodic re-snapshots within one page view.
  const views = [...(opts.pageViews ?? [])].filter((v) => v.id).sort((a, b) => a.time - b.time);
  let v = -1;
  const viewAt = (time: number) => {
    while (v + 1 < views.length && views[v + 1]!.time <= time) v++;
    return v >= 0 ? views[v]!.id : "";
  };

  const add = (kind: MarkerKind, time: number, label: string, detail?: string, count?: number) => {
    const m: Marker = { kind, time, offset: time - start, label };
    if (detail) m.detail = detail;
    if (count !== undefined) m.count = count;
    markers.push(m);
  };
  const page = (time: number, url: string, fromMeta: boolean) => {
    if (!url) return;
    const view = fromMeta ? viewAt(time) : lastPageView;
    const reload = fromMeta && view !== "" && lastPageView !== "" && view !== lastPageView;
    if (fromMeta) lastPageView = view;
    if (url === lastUrl && !reload) return;
    lastUrl = url;
    add("page", time, pathOf(url), url);
  };

  for (const e of events) {
    const d = e.data ?? {};
    switch (e.type) {
      case EventType.Meta:
        page(e.timestamp, str(d.href), true);
        reactions.push(e.timestamp);
        break;
      case EventType.FullSnapshot:
        reactions.push(e.timestamp);
        break;
      case EventType.IncrementalSnapshot:
        if (d.source === Source.Mutation) reactions.push(e.timestamp);
        else if (d.source === Source.MouseInteraction && d.type === MouseInteraction.Click) {
          clicks.push({ time: e.timestamp, x: Number(d.x) || 0, y: Number(d.y) || 0 });
        }
        break;
      case EventType.Custom: {
        const p = d.payload ?? {};
        if (d.tag === "sl:navigation") {
          page(e.timestamp, str(p.url), false);
          reactions.push(e.timestamp);
        } else if (d.tag === "sl:error") {
          const msg = str(p.message) || "Error";
          add("error", e.timestamp, msg, str(p.stack) || str(p.source) || undefined);
        } else if (d.tag === "sl:event") {
          add("custom", e.timestamp, str(p.name) || "event");
        }
        break;
      }
    }
  }

  const inBurst = new Set<Click>();
  for (const burst of rageBursts(clicks)) {
    burst.forEach((c) => inBurst.add(c));
    add("rage", burst[0]!.time, `${burst.length} clicks in a row`, undefined, burst.length);
  }

  // reactions is sorted (events were); find the first reaction after each click.
  let r = 0;
  for (const c of clicks) {
    if (inBurst.has(c)) continue;
    while (r < reactions.length && reactions[r]! <= c.time) r++;
    const reacted = r < reactions.length && reactions[r]! <= c.time + DEAD_CLICK_WINDOW_MS;
    const decided = opts.complete || end > c.time + DEAD_CLICK_WINDOW_MS;
    if (!reacted && decided) add("dead", c.time, "no reaction", "Nothing on the page changed after this click");
    else add("click", c.time, "click");
  }

  // Stable by time, then by kind order so a page change precedes what happens on it.
  const order: MarkerKind[] = ["page", "error", "rage", "dead", "custom", "click"];
  return markers.sort((a, b) => a.time - b.time || order.indexOf(a.kind) - order.indexOf(b.kind));
}
