import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { useAsync } from "../app/useAsync";
import { ErrorBox, Spinner } from "../components/ui";
import { deviceLabel, fromSearchParams, toSearchBody } from "../lib/filters";
import { countryName, formatDateTime, formatDuration, parseDuration, urlPath } from "../lib/format";
import { listKey, loadList, neighbours, saveList, type ListSnapshot } from "../lib/listStore";
import { frustrationsFromApi } from "../lib/timeline";
import { markWatched } from "../lib/watched";
import { Player } from "../replay/Player";

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

/** useNeighbours finds previous/next recordings in the list the user came from. */
function useNeighbours(siteId: string, sessionId: string, query: string) {
  const [list, setList] = useState<ListSnapshot | undefined>(() => loadList(listKey(siteId, query)));
  useEffect(() => {
    const key = listKey(siteId, query);
    const cached = loadList(key);
    if (cached && cached.ids.includes(sessionId)) {
      setList(cached);
      return;
    }
    // Opened from a link: rebuild the list's first page.
    let live = true;
    unwrap(
      api.POST("/api/v1/sites/{siteId}/sessions:search", {
        params: { path: { siteId } },
        body: toSearchBody(fromSearchParams(new URLSearchParams(query)), { now: new Date(), pageSize: 50, facets: false }),
      }),
    ).then(
      (r) => {
        if (!live) return;
        const snap = { key, ids: (r.sessions ?? []).map((s) => s.sessionId ?? ""), nextPageToken: r.nextPageToken || undefined, total: Number(r.total ?? 0) };
        saveList(snap);
        setList(snap);
      },
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [siteId, sessionId, query]);

  const n = neighbours(list?.ids ?? [], sessionId);
  const atEnd = list && n.index >= 0 && !n.next && list.nextPageToken;
  // At the end of the loaded part: fetch the next page so "next" keeps working.
  useEffect(() => {
    if (!atEnd || !list) return;
    let live = true;
    unwrap(
      api.POST("/api/v1/sites/{siteId}/sessions:search", {
        params: { path: { siteId } },
        body: toSearchBody(fromSearchParams(new URLSearchParams(query)), { now: new Date(), pageSize: 50, pageToken: list.nextPageToken, facets: false }),
      }),
    ).then(
      (r) => {
        if (!live) return;
        const seen = new Set(list.ids);
        const fresh = (r.sessions ?? []).map((s) => s.sessionId ?? "").filter((id) => id && !seen.has(id));
        // A page that adds nothing ends the walk rather than asking again forever.
        const snap = { ...list, ids: [...list.ids, ...fresh], nextPageToken: fresh.length ? r.nextPageToken || undefined : undefined };
        saveList(snap);
        setList(snap);
      },
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [atEnd, list, siteId, query]);
  return { ...n, total: list?.total };
}

export default function Replay() {
  const { orgId = "", siteId = "", sessionId = "" } = useParams();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  // ?t=<seconds> opens the replay at a moment; the rest is the list's filter.
  const startAtMs = Math.max(0, Number(params.get("t") ?? 0) * 1000) || 0;
  const listParams = new URLSearchParams(params);
  listParams.delete("t");
  const query = listParams.toString();
  useEffect(() => markWatched(siteId, sessionId), [siteId, sessionId]);
  const [autoNext, setAutoNext] = useState(false);
  const session = useAsync(() => unwrap(api.GET("/api/v1/sites/{siteId}/sessions/{sessionId}", { params: { path: { siteId, sessionId } } })), [siteId, sessionId]);
  const nb = useNeighbours(siteId, sessionId, query);
  const base = `/o/${orgId}/sites/${siteId}/recordings`;
  const link = (id: string) => `${base}/${encodeURIComponent(id)}${query ? `?${query}` : ""}`;
  const s = session.data?.session;
  // The server's rage and dead clicks: the timeline shows the set the counts count.
  const frustrations = useMemo(() => frustrationsFromApi(session.data?.frustrations), [session.data]);

  // A delete that failed (e.g. during an outage) says so here, with its trace reference.
  const [actionError, setActionError] = useState<Error>();

  const forgetVisitor = async () => {
    if (!s?.visitorId) return;
    if (!window.confirm("Delete every recording of this visitor on this site (e.g. for a GDPR request)? This can't be undone.")) return;
    setActionError(undefined);
    try {
      const r = await unwrap(api.DELETE("/api/v1/sites/{siteId}/visitors/{visitorId}", { params: { path: { siteId, visitorId: s.visitorId } } }));
      window.alert(`Deleted ${Number(r.deletedSessions ?? 0).toLocaleString()} recordings of this visitor.`);
      navigate(`${base}${query ? `?${query}` : ""}`);
    } catch (e) {
      setActionError(e as Error);
    }
  };

  const remove = async () => {
    if (!window.confirm("Delete this recording everywhere? This can't be undone.")) return;
    setActionError(undefined);
    try {
      await unwrap(api.DELETE("/api/v1/sites/{siteId}/sessions/{sessionId}", { params: { path: { siteId, sessionId } } }));
      navigate(nb.next ? link(nb.next) : `${base}${query ? `?${query}` : ""}`);
    } catch (e) {
      setActionError(e as Error);
    }
  };

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
      <ErrorBox error={session.error} onRetry={session.reload} />
      <ErrorBox error={actionError} />
      <div className="replay-body">
        <Player
          key={sessionId}
          siteId={siteId}
          sessionId={sessionId}
          durationHintMs={parseDuration(s?.duration)}
          startAtMs={startAtMs}
          frustrations={frustrations}
          shareUrl={(ms) => {
            const p = new URLSearchParams(listParams);
            p.set("t", String(Math.floor(ms / 1000)));
            return `${window.location.origin}${base}/${encodeURIComponent(sessionId)}?${p}`;
          }}
          onFinished={() => autoNext && nb.next && navigate(link(nb.next))}
          details={
            session.loading ? (
              <Spinner />
            ) : s ? (
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
            ) : undefined
          }
        />
      </div>
    </div>
  );
}
