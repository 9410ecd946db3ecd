import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { type Schemas } from "../api/client";
import { $api } from "../api/query";
import { listPageSize, useSessionSearch } from "../api/sessionSearch";
import { useApp } from "../app/AppContext";
import { ErrorBox, QueryStatus } from "../components/ui";
import { isMissing, Missing } from "../components/NotFound";
import { deviceLabel } from "../lib/filters";
import { countryName, formatDateTime, formatDuration, parseDuration, plural, urlPath } from "../lib/format";
import { neighbours } from "./neighbours";
import { frustrationsFromApi } from "../lib/timeline";
import { markWatched } from "../lib/watched";
import { Player } from "../replay/Player";
import { startOffset } from "../replay/start";
import { basePath } from "../lib/base";

type Summary = Schemas["v1SessionSummary"];

function Meta({ s }: { s: Summary }) {
  const c = s.client ?? {};
  const rows: [string, React.ReactNode][] = [
    ["Started", formatDateTime(s.startTime)],
    ["Duration", `${formatDuration(parseDuration(s.duration))} (${formatDuration(parseDuration(s.activeDuration))} active)`],
    ["Pages", s.pageCount ?? 0],
    ["Device", `${deviceLabel(c.deviceType)} · ${s.viewportWidth ?? "?"}×${s.viewportHeight ?? "?"}`],
    ["Browser", `${c.browser || "Unknown"} ${c.browserVersion ?? ""}`.trim()],
    ["OS", `${c.os || "Unknown"} ${c.osVersion ?? ""}`.trim()],
    ["Country", c.country ? `${countryName(c.country)} (${c.country})` : "Unknown"],
    ["Clicks", `${s.clickCount ?? 0} · ${s.rageClickCount ?? 0} rage · ${s.deadClickCount ?? 0} dead`],
    ["Errors", s.errorCount ?? 0],
  ];
  if (s.userId) rows.push(["User", s.userId]);
  for (const a of s.userAttributes ?? []) rows.push([a.key ?? "", a.value]);
  if (s.referrer) rows.push(["Referrer", s.referrer]);
  if (s.utmSource || s.utmMedium || s.utmCampaign) rows.push(["UTM", [s.utmSource, s.utmMedium, s.utmCampaign].filter(Boolean).join(" / ")]);
  if ((s.customEvents ?? []).length) rows.push(["Events", (s.customEvents ?? []).join(", ")]);
  rows.push(["Entry", <span title={s.entryUrl}>{urlPath(s.entryUrl)}</span>]);
  rows.push(["Exit", <span title={s.exitUrl}>{urlPath(s.exitUrl)}</span>]);
  rows.push(["Visitor", <code>{s.visitorId}</code>]);
  return (
    <dl className="meta" data-testid="session-meta">
      {rows.map(([k, v], i) => (
        <div key={`${k}-${i}`} className="meta-row">
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
      {s.truncated && <p className="warn small">Part of this session was not recorded (a limit was reached or the visitor's browser dropped data).</p>}
    </dl>
  );
}

/**
 * useNeighbours finds previous/next recordings in the list the user came
 * from: the list's own cached query when there is one, else its first page
 * (opened from a link); at the end of what is loaded it loads the next page
 * so "next" keeps working.
 */
function useNeighbours(siteId: string, sessionId: string, query: string) {
  const { config } = useApp();
  const list = useSessionSearch(siteId, query, listPageSize(config?.maxPageSize));
  const ids = useMemo(() => list.items.map((s) => s.sessionId ?? ""), [list.items]);
  const n = neighbours(ids, sessionId);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = list.query;
  const atEnd = n.index >= 0 && !n.next && hasNextPage;
  useEffect(() => {
    if (atEnd && !isFetchingNextPage) void fetchNextPage();
  }, [atEnd, isFetchingNextPage, fetchNextPage]);
  return { ...n, total: list.total };
}

export default function Replay() {
  const { orgId = "", siteId = "", sessionId = "" } = useParams();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  // ?t=<seconds> opens the replay at a moment, ?at=<ms since the epoch> at a
  // moment of the day (a feedback answer's time, turned into an offset once
  // the session's start is known); the rest is the list's filter.
  const atMs = Number(params.get("at") ?? NaN);
  const listParams = new URLSearchParams(params);
  listParams.delete("t");
  listParams.delete("at");
  const query = listParams.toString();
  useEffect(() => markWatched(siteId, sessionId), [siteId, sessionId]);
  const [autoNext, setAutoNext] = useState(false);
  const session = $api.useQuery("get", "/api/v1/sites/{siteId}/sessions/{sessionId}", { params: { path: { siteId, sessionId } } });
  const nb = useNeighbours(siteId, sessionId, query);
  const base = `/o/${orgId}/sites/${siteId}/recordings`;
  const link = (id: string) => `${base}/${encodeURIComponent(id)}${query ? `?${query}` : ""}`;
  const s = session.data?.session;
  const startAtMs = startOffset(params.get("t"), atMs, s?.startTime, session.isError);
  // The server's rage and dead clicks: the timeline shows the set the counts count.
  const frustrations = useMemo(() => frustrationsFromApi(session.data?.frustrations), [session.data]);

  // Deletes change the list the user goes back to.
  const qc = useQueryClient();
  const listChanged = () => void qc.invalidateQueries({ queryKey: ["post", "/api/v1/sites/{siteId}/sessions:search"] });
  const deleteVisitor = $api.useMutation("delete", "/api/v1/sites/{siteId}/visitors/{visitorId}", {
    onSuccess: (r) => {
      window.alert(`Deleted ${plural(Number(r.deletedSessions ?? 0), "recording")} of this visitor.`);
      navigate(`${base}${query ? `?${query}` : ""}`);
    },
    onSettled: listChanged,
  });
  const deleteSession = $api.useMutation("delete", "/api/v1/sites/{siteId}/sessions/{sessionId}", {
    onSuccess: () => navigate(nb.next ? link(nb.next) : `${base}${query ? `?${query}` : ""}`),
    onSettled: listChanged,
  });
  // A delete that failed (e.g. during an outage) says so here, with its trace reference.
  const actionError = deleteSession.error ?? deleteVisitor.error;

  const forgetVisitor = () => {
    if (!s?.visitorId) return;
    if (!window.confirm("Delete every recording of this visitor on this site (e.g. for a GDPR request)? This can't be undone.")) return;
    deleteVisitor.mutate({ params: { path: { siteId, visitorId: s.visitorId } } });
  };

  const remove = () => {
    if (!window.confirm("Delete this recording everywhere? This can't be undone.")) return;
    deleteSession.mutate({ params: { path: { siteId, sessionId } } });
  };

  const listHref = `${base}${query ? `?${query}` : ""}`;
  // A recording that is not there: say so and lead back to the list (a Retry could only fail again).
  if (isMissing(session.error)) {
    return (
      <Missing title="Recording not found" testId="recording-not-found" back={["Back to recordings", listHref]}>
        This recording doesn't exist, or it was deleted (by someone, or at the end of the site's retention period).
      </Missing>
    );
  }

  return (
    <div className="replay">
      <div className="replay-bar">
        <Link to={`${base}${query ? `?${query}` : ""}`} className="btn btn-ghost btn-small" data-testid="back-to-list">
          ← Recordings
        </Link>
        <div className="replay-title">
          <strong>{s ? `${s.userId || `Visitor ${(s.visitorId ?? "").slice(2, 8)}`} · ${formatDateTime(s.startTime)}` : "Recording"}</strong>
          {nb.index >= 0 && nb.total !== undefined && (
            <span className="muted small">
              {" "}
              · {nb.index + 1} of {nb.total.toLocaleString()}
            </span>
          )}
        </div>
        <div className="spacer" />
        <label className="toggle-inline small">
          <input type="checkbox" checked={autoNext} onChange={(e) => setAutoNext(e.target.checked)} /> Autoplay next
        </label>
        <button className="btn btn-small" disabled={!nb.prev} onClick={() => nb.prev && navigate(link(nb.prev))} data-testid="prev-recording">
          ‹ Previous
        </button>
        <button className="btn btn-small" disabled={!nb.next} onClick={() => nb.next && navigate(link(nb.next))} data-testid="next-recording">
          Next ›
        </button>
      </div>
      <ErrorBox error={actionError} />
      <div className="replay-body">
        {startAtMs !== undefined && <Player
          key={sessionId}
          siteId={siteId}
          sessionId={sessionId}
          durationHintMs={parseDuration(s?.duration)}
          startAtMs={startAtMs}
          frustrations={frustrations}
          shareUrl={(ms) => {
            const p = new URLSearchParams(listParams);
            p.set("t", String(Math.floor(ms / 1000)));
            return `${window.location.origin}${basePath}${base}/${encodeURIComponent(sessionId)}?${p}`;
          }}
          onFinished={() => autoNext && nb.next && navigate(link(nb.next))}
          details={
            !s ? (
              <QueryStatus query={session} />
            ) : (
              <>
                <Meta s={s} />
                <div className="row gap-small danger-actions">
                  <button className="btn btn-ghost btn-small danger-text" onClick={remove}>
                    Delete recording
                  </button>
                  <button className="btn btn-ghost btn-small danger-text" onClick={forgetVisitor}>
                    Delete visitor's data
                  </button>
                </div>
              </>
            )
          }
        />}
      </div>
    </div>
  );
}

