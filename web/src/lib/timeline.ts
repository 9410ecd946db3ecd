// Markers on the replay timeline and in the side list, derived from the
// rrweb events of a recording (page changes, clicks, errors, custom events)
// and, for rage and dead clicks, from the server's list (GetSession's
// frustrations): the one definition lives in svc-recordings/summary, so the
// timeline, the Session tab's counts, the recordings list and the search
// filters show the same set.
import type { RrwebEvent } from "./ndjson";

// rrweb's numeric enums (rrweb/types), restated so the logic runs without a DOM.
const EventType = { FullSnapshot: 2, IncrementalSnapshot: 3, Meta: 4, Custom: 5 } as const;
const Source = { MouseInteraction: 2 } as const;
const MouseInteraction = { Click: 2 } as const;

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

/** A rage burst or a dead click, as GetSession reports it (see fromApi). */
export interface Frustration {
  kind: "rage" | "dead";
  /** The (first) click, milliseconds since the epoch. */
  time: number;
  pageViewId: string;
  nodeId: number;
  /** Clicks in the burst (1 for a dead click). */
  clicks: number;
}

/** The API's shape of one frustration (v1Frustration). */
export interface ApiFrustration {
  kind?: string;
  time?: string;
  pageViewId?: string;
  nodeId?: number;
  clicks?: number;
}

/** frustrationsFromApi reads GetSession's list, dropping entries it cannot place. */
export function frustrationsFromApi(list: readonly ApiFrustration[] | undefined): Frustration[] {
  const out: Frustration[] = [];
  for (const f of list ?? []) {
    const kind = f.kind === "FRUSTRATION_KIND_RAGE" ? "rage" : f.kind === "FRUSTRATION_KIND_DEAD" ? "dead" : undefined;
    const time = Date.parse(f.time ?? "");
    if (!kind || !Number.isFinite(time)) continue;
    out.push({ kind, time, pageViewId: f.pageViewId ?? "", nodeId: Number(f.nodeId) || 0, clicks: Math.max(1, Number(f.clicks) || 1) });
  }
  return out;
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

export interface PageViewStart {
  /** The tracker's page-view id of a chunk. */
  id: string;
  /** Time of the chunk's first event. */
  time: number;
}

/**
 * extractMarkers reads markers from events (in any order). Rage and dead
 * clicks are the server's (frustrations); the clicks they cover are not
 * listed again as plain clicks.
 */
export function extractMarkers(
  input: RrwebEvent[],
  opts: { pageViews?: PageViewStart[]; frustrations?: readonly Frustration[] } = {},
): Marker[] {
  const events = [...input].sort((a, b) => a.timestamp - b.timestamp);
  if (events.length === 0) return [];
  const start = events[0]!.timestamp;
  const markers: Marker[] = [];
  const clicks: { time: number; node: number }[] = [];
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
        break;
      case EventType.IncrementalSnapshot:
        if (d.source === Source.MouseInteraction && d.type === MouseInteraction.Click) {
          clicks.push({ time: e.timestamp, node: Number(d.id) || 0 });
        }
        break;
      case EventType.Custom: {
        const p = d.payload ?? {};
        if (d.tag === "sl:navigation") {
          page(e.timestamp, str(p.url), false);
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

  // The clicks a frustration covers: a dead click is its click (same time
  // and node), a burst its first `clicks` clicks from its time on.
  const covered = new Set<number>();
  const byTime = clicks.map((c, i) => ({ ...c, i }));
  for (const f of opts.frustrations ?? []) {
    if (f.kind === "rage") {
      add("rage", f.time, `${f.clicks} clicks in a row`, undefined, f.clicks);
      let n = 0;
      for (const c of byTime) {
        if (n >= f.clicks) break;
        if (c.time >= f.time && !covered.has(c.i)) {
          covered.add(c.i);
          n++;
        }
      }
    } else {
      add("dead", f.time, "no reaction", "Nothing on the page reacted to this click within 1.5 s, or before the visitor pressed somewhere else");
      const c = byTime.find((c) => c.time === f.time && (c.node === f.nodeId || !f.nodeId) && !covered.has(c.i));
      if (c) covered.add(c.i);
    }
  }
  clicks.forEach((c, i) => {
    if (!covered.has(i)) add("click", c.time, "click");
  });

  // Stable by time, then by kind order so a page change precedes what happens on it.
  const order: MarkerKind[] = ["page", "error", "rage", "dead", "custom", "click"];
  return markers.sort((a, b) => a.time - b.time || order.indexOf(a.kind) - order.indexOf(b.kind));
}
