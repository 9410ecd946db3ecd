// The recordings a map can be drawn over: the newest sessions that visited
// the map's pages on its device class in its dates (the recordings search,
// as the map's links to recordings filter them). The newest snapshot may
// show a passing state — a cookie banner, an open menu — and a user picks
// another visit's page instead.
import { useMemo } from "react";
import type { Schemas } from "../api/client";
import { $api } from "../api/query";
import { QueryStatus } from "../components/ui";
import { deviceLabel, toSearchBody } from "../lib/filters";
import { countryFlag, formatDateTime, formatDuration, parseDuration, plural } from "../lib/format";
import { pageSessions, type HeatmapQuery } from "./query";

type Summary = Schemas["v1SessionSummary"];

/** The most recordings offered at once. */
export const PICK_LIMIT = 10;

/** pickLabel describes one recording for the list: when, how wide, on what, how long. */
export function pickLabel(s: Summary): string {
  const parts = [formatDateTime(s.startTime)];
  if (s.viewportWidth) parts.push(`${s.viewportWidth} px wide`);
  parts.push(deviceLabel(s.client?.deviceType));
  if (s.client?.browser) parts.push(s.client.browser);
  const ms = parseDuration(s.duration);
  if (ms > 0) parts.push(formatDuration(ms));
  parts.push(plural(Number(s.pageCount ?? s.pages?.length ?? 0), "page"));
  return parts.join(" · ");
}

export function SnapshotPicker({
  siteId,
  query,
  now,
  current,
  onPick,
}: {
  siteId: string;
  query: HeatmapQuery;
  now: Date;
  /** current is the session the map is drawn over now. */
  current: string | undefined;
  onPick: (sessionId: string) => void;
}) {
  const body = useMemo(() => toSearchBody(pageSessions(query), { now, pageSize: PICK_LIMIT, facets: false }), [query, now]);
  const list = $api.useQuery("post", "/api/v1/sites/{siteId}/sessions:search", { params: { path: { siteId } }, body }, { staleTime: 60_000 });
  const sessions = list.data?.sessions ?? [];
  return (
    <div className="heat-snap-picker" data-testid="heat-snap-picker">
      <h2 id="heat-snap-picker-title">Draw the map over another recording</h2>
      <p className="muted small">The newest recordings of these pages on this device in these dates. The map stays the same; only the page under it changes.</p>
      {!list.data ? (
        <QueryStatus query={list} label="Finding recordings…" />
      ) : sessions.length === 0 ? (
        <p className="muted small">No recording of these pages on this device in these dates.</p>
      ) : (
        <ul aria-labelledby="heat-snap-picker-title">
          {sessions.map((s) => {
            const id = s.sessionId ?? "";
            const on = id === current;
            return (
              <li key={id}>
                <button type="button" className="heat-pick" aria-pressed={on} onClick={() => onPick(id)} data-testid="heat-pick" data-session={id}>
                  <span aria-hidden>{countryFlag(s.client?.country)}</span> {pickLabel(s)}
                  {on && <span className="muted"> · drawn now</span>}
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
