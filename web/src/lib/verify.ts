// What "Verify installation" concludes from the site's activity (the latest
// stored recording batch) and its realtime traffic (page-view hits, which the
// tracker sends for every visitor it may count, recorded or not).

import type { Schemas } from "../api/client";

type Activity = Schemas["v1GetSiteActivityResponse"];
type Realtime = Schemas["v1GetRealtimeResponse"];
type Settings = Schemas["v1SiteSettings"];

/** Data newer than this counts as "the snippet works". */
export const FRESH_MS = 15 * 60_000;

/**
 * Seen is what arrived: a recording batch, page views only, or nothing.
 * "hits" with why: recording is off or sampled at 0% for the site, or (for
 * "unknown") the visit was sampled out, waits for consent, is over the daily
 * limit — or its first batch is still on its way.
 */
export type Seen =
  | { kind: "recording"; lastChunkTime: string; sessions24h: number }
  | { kind: "hits"; pageViews: number; why: "off" | "unsampled" | "unknown" }
  | { kind: "none" };

export function seen(activity: Activity | undefined, realtime: Realtime | undefined, settings: Settings | undefined, now = Date.now()): Seen {
  const t = activity?.lastChunkTime ? Date.parse(activity.lastChunkTime) : NaN;
  if (Number.isFinite(t) && now - t < FRESH_MS) {
    return { kind: "recording", lastChunkTime: activity!.lastChunkTime!, sessions24h: Number(activity?.sessionsLast24h ?? 0) };
  }
  const pageViews = Number(realtime?.pageViews ?? 0);
  if (pageViews > 0) {
    const why = settings && !settings.recordingEnabled ? "off" : settings && !settings.sampleRate ? "unsampled" : "unknown";
    return { kind: "hits", pageViews, why };
  }
  return { kind: "none" };
}

/** settled says verifying can stop: a recording arrived, or page views did on a site that records nothing. */
export function settled(s: Seen): boolean {
  return s.kind === "recording" || (s.kind === "hits" && s.why !== "unknown");
}
