// The Heatmaps section: pick pages (a rule), a device class, dates and a
// map — clicks (all, rage, dead), moves or scroll — and see it drawn over
// the page rebuilt from a recording, with the most-clicked elements or the
// scroll depths beside it. Everything chosen lives in the URL.
import { lazy, Suspense, useCallback, useEffect, useId, useMemo, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import type { Schemas } from "../api/client";
import { $api } from "../api/query";
import { DateRangeFilter } from "../components/DateRangeFilter";
import { isMissing } from "../components/NotFound";
import { EmptyState, QueryStatus } from "../components/ui";
import { rangeNote } from "../lib/rangeNote";
import { formatDateTime, formatDuration, plural } from "../lib/format";
import { useUrlQuery } from "../lib/urlQuery";
import { selectorTail } from "../heatmap/name";
import { PagePicker } from "../heatmap/PagePicker";
import { clickLinkText, deviceSessions, DEVICES, frustrationText, fromParams, HEATMAP_RANGES, MAP_KINDS, MAX_HEAT_DAYS, MAX_RULE, recordingsSearch, snapshotRequest, toParams, toRequest, type HeatmapQuery, type MapKind } from "../heatmap/query";
import { percent, reachedByTen } from "../heatmap/scroll";
import { HeatStage } from "../heatmap/Stage";
import { readableUrl } from "../heatmap/url";
import "../heatmap/heatmaps.css";
import { useSitePage } from "./Home";

type Heatmap = Schemas["v1GetHeatmapResponse"];

/** The width of a blank page (no snapshot) for each device class. */
const BLANK_WIDTH: Record<HeatmapQuery["device"], number> = { desktop: 1280, tablet: 820, mobile: 390, all: 1280 };

/** The frustration counts every click map shows beside its own total, each a way to its map. */
const FRUSTRATIONS = [
  { map: "rage", field: "rageClicks", label: "Rage clicks", noun: "rage click" },
  { map: "dead", field: "deadClicks", label: "Dead clicks", noun: "dead click" },
] as const satisfies readonly { map: MapKind; field: keyof Heatmap; label: string; noun: string }[];

/** A move map's weight is pointer time in these units (recordings' summary, moveSampleMs). */
const MOVE_UNIT_MS = 50;

/** The list of recordings to draw over is asked for rarely: its own chunk. */
const SnapshotPicker = lazy(() => import("../heatmap/SnapshotPicker").then((m) => ({ default: m.SnapshotPicker })));

/** A minute-rounded now, so relative ranges keep one query key while the page is open. */
const minuteNow = () => new Date(Math.floor(Date.now() / 60_000) * 60_000);

function utcDay(iso: string | undefined): string {
  return iso ? new Date(iso).toISOString().slice(0, 10) : "…";
}

/** Segmented is a labelled row of pills, one pressed; each pill's test id is `${id}-${key}`; counts, when given, show beside their labels. */
function Segmented<K extends string>({ label, id, options, value, onChange, counts, noun }: { label: string; id: string; options: readonly { key: K; label: string }[]; value: K; onChange: (key: K) => void; counts?: Partial<Record<K, number>>; noun?: string }) {
  return (
    <div className="filter-group">
      <span className="filter-label" id={id}>
        {label}
      </span>
      <div className="segmented" role="group" aria-labelledby={id}>
        {options.map((o) => (
          <button
            key={o.key}
            type="button"
            className={`pill ${value === o.key ? "pill-on" : ""}`}
            aria-pressed={value === o.key}
            onClick={() => onChange(o.key)}
            data-testid={`${id}-${o.key}`}
            title={counts?.[o.key] !== undefined && noun ? `${plural(counts[o.key]!, noun)} on these pages and dates` : undefined}
          >
            {o.label}
            {counts?.[o.key] !== undefined && (
              <>
                {" "}
                <span className="pill-count">{counts[o.key]!.toLocaleString()}</span>
              </>
            )}
          </button>
        ))}
      </div>
    </div>
  );
}

export default function Heatmaps() {
  const { orgId, siteId, site } = useSitePage();
  const { q, set } = useUrlQuery(fromParams, toParams);
  const navigate = useNavigate();
  const key = toParams(q).toString();
  // A new "now" only with a new query.
  const now = useMemo(minuteNow, [key]);

  const req = toRequest(q, now);
  // Said under the dates; with it nothing is asked (toRequest).
  const tooLong = !!rangeNote(q, now, MAX_HEAT_DAYS)?.blocking;
  // fromParams drops a rule too long to send: say so rather than show the empty state alone.
  const [params] = useSearchParams();
  const droppedRule = (params.get("page")?.trim().length ?? 0) > MAX_RULE;
  // A map may hold 100,000 cells: no deep comparison with the previous answer (structural sharing) on the main thread.
  const heat = $api.useQuery("get", "/api/v1/sites/{siteId}/heatmap", { params: { path: { siteId }, query: req } }, { enabled: !!req, staleTime: 60_000, refetchOnWindowFocus: false, structuralSharing: false });
  // Page views come with the scroll map; read it beside the others for the figures.
  const scrollReq = req && req.kind !== "HEATMAP_KIND_SCROLL" ? { ...req, kind: "HEATMAP_KIND_SCROLL" as const } : undefined;
  const views = $api.useQuery("get", "/api/v1/sites/{siteId}/heatmap", { params: { path: { siteId }, query: scrollReq } }, { enabled: !!scrollReq, staleTime: 60_000, refetchOnWindowFocus: false });
  const data = heat.data;
  // The recording the user chose to draw over, if any (else the newest snapshot GetHeatmap names).
  const snapReq = req ? snapshotRequest(q) : undefined;
  const chosen = $api.useQuery("get", "/api/v1/sites/{siteId}/heatmap/snapshot", { params: { path: { siteId }, query: snapReq! } }, { enabled: !!snapReq, staleTime: 60_000 });
  const chosenSnap = snapReq ? chosen.data?.snapshot : undefined;
  // Gone (404: deleted, or no snapshot of these pages): the newest is drawn. Any other failure is shown, with Retry.
  const chosenGone = !!snapReq && isMissing(chosen.error);
  const waitingChoice = !!snapReq && !chosenSnap && !chosenGone;
  const snapshot = chosenSnap ?? (waitingChoice ? undefined : data?.snapshot);
  const [picking, setPicking] = useState(false);
  useEffect(() => setPicking(false), [key]);
  // Other pages, devices or dates: the chosen recording may show none of them.
  const setScope = useCallback((patch: Partial<HeatmapQuery>) => set({ ...patch, snap: undefined }), [set]);
  const viewsData = q.map === "scroll" ? data : views.data;
  const pageViews = viewsData ? Number(viewsData.scroll?.pageViews ?? 0) : undefined;
  const [highlight, setHighlight] = useState<string | undefined>();
  useEffect(() => setHighlight(undefined), [key]);
  // What names the rebuilt page's elements, for the list beside the map.
  const [nameOf, setNameOf] = useState<((selector: string) => string) | undefined>();
  const onNames = useCallback((name: ((selector: string) => string) | undefined) => setNameOf(() => name), []);

  const recordingsUrl = (selector: string) => `/o/${orgId}/sites/${siteId}/recordings?${recordingsSearch(q, selector)}`;
  const clickMap = q.map === "click" || q.map === "rage" || q.map === "dead";
  const total = Number(data?.total ?? 0);

  return (
    <div className="heatmaps" data-testid="heatmaps-page">
      <div className="heat-controls">
        <h1>
          Heatmaps <span className="muted site-title">{site.data?.site?.name}</span>
        </h1>
        <PagePicker siteId={siteId} value={q.page} onChange={(page) => setScope({ page })} />
        <Segmented label="Device" id="heat-device" options={DEVICES} value={q.device} onChange={(device) => setScope({ device })} counts={deviceSessions(data)} noun="session" />
        <Segmented label="Map" id="heat-map" options={MAP_KINDS} value={q.map} onChange={(map) => set({ map })} />
        <DateRangeFilter presets={HEATMAP_RANGES} value={q} onChange={setScope} testId="heat" maxDays={MAX_HEAT_DAYS} />
      </div>
      {droppedRule && (
        <p className="warn small" role="alert" data-testid="heat-rule-dropped">
          The page rule in this link is longer than {MAX_RULE.toLocaleString()} characters, the most a rule may have, so it was ignored.
        </p>
      )}

      <section className="heat-main" aria-label="Heatmap">
        {q.page && tooLong ? (
          <EmptyState title="Choose a shorter range" icon="◎" testId="heat-range-too-long">
            A heatmap reads at most {MAX_HEAT_DAYS} days at once: move From later or To earlier.
          </EmptyState>
        ) : !req ? (
          <EmptyState title="Choose a page" icon="◎" testId="heat-empty">
            Pick one of the recorded pages, or type a rule: a map is drawn from every visit to the pages it matches.
          </EmptyState>
        ) : !data ? (
          <QueryStatus query={heat} label="Reading the map…" />
        ) : (
          <>
            <dl className="heat-figures" data-testid="heat-figures">
              <div>
                <dt>Sessions</dt>
                <dd data-testid="heat-sessions">{Number(data.sessions ?? 0).toLocaleString()}</dd>
              </div>
              <div>
                <dt>Page views</dt>
                <dd data-testid="heat-views">{pageViews === undefined ? "…" : pageViews.toLocaleString()}</dd>
              </div>
              {q.map !== "scroll" && (
                <div>
                  <dt>{q.map === "move" ? "Pointer time, all visits" : MAP_KINDS.find((m) => m.key === q.map)!.label}</dt>
                  {q.map === "move" ? (
                    <dd data-testid="heat-total" title={`${total.toLocaleString()} × ${MOVE_UNIT_MS} ms (a pointer resting counts up to 2 s at one spot)`}>
                      {formatDuration(total * MOVE_UNIT_MS)}
                    </dd>
                  ) : (
                    <dd data-testid="heat-total">{total.toLocaleString()}</dd>
                  )}
                </div>
              )}
              {clickMap &&
                FRUSTRATIONS.filter((f) => f.map !== q.map).map((f) => {
                  const n = Number(data[f.field] ?? 0);
                  return (
                    <div key={f.map}>
                      <dt>{f.label}</dt>
                      <dd>
                        <button type="button" className="heat-figure-link" onClick={() => set({ map: f.map })} aria-label={`${plural(n, f.noun)}: show their map`} title={`Show the ${f.noun} map`} data-testid={`heat-${f.map}-count`}>
                          {n.toLocaleString()}
                        </button>
                      </dd>
                    </div>
                  );
                })}
              <div>
                <dt>Pages matched</dt>
                <dd data-testid="heat-pages">{(data.pages ?? 0).toLocaleString()}</dd>
              </div>
              <div>
                <dt>Days read (UTC)</dt>
                <dd data-testid="heat-days">
                  {utcDay(data.startTime)} – {utcDay(data.endTime ? new Date(Date.parse(data.endTime) - 1).toISOString() : undefined)}
                </dd>
              </div>
            </dl>
            {data.truncated && <p className="warn small">Only the {q.map === "move" ? "cells" : "spots"} with the most counts are drawn (the map has more).</p>}
            {!data.pages ? (
              <p className="warn small" role="status" data-testid="heat-no-page">
                No recorded page matches this rule{q.page?.op === "equals" ? " (an exact URL names one page, without its query string)" : ""}: check its spelling, or pick a page from the list. The map is drawn on a blank page.
              </p>
            ) : chosenGone ? (
              <p className="warn small" role="status" data-testid="heat-chosen-gone">
                The recording chosen to draw over holds no snapshot of these pages any more (it may have been deleted), so the map is drawn over the newest one.{" "}
                <button type="button" className="heat-figure-link" onClick={() => set({ snap: undefined })}>
                  Forget that choice
                </button>
              </p>
            ) : snapshot?.sessionId ? (
              <p className="muted small" data-testid="heat-snapshot" data-session={snapshot.sessionId}>
                Drawn over {chosenSnap ? "the recording you chose" : "a recording"} of {readableUrl(snapshot.url ?? "")} at {snapshot.viewportWidth} px wide, {formatDateTime(snapshot.time)}
                {chosenSnap && q.device !== "all" && chosen.data?.deviceType && chosen.data.deviceType !== DEVICES.find((d) => d.key === q.device)?.value ? " (recorded on another kind of device)" : ""}.{" "}
                <Link to={`/o/${orgId}/sites/${siteId}/recordings/${encodeURIComponent(snapshot.sessionId)}`}>Open that recording</Link>
                {" · "}
                <button type="button" className="heat-figure-link" aria-expanded={picking} onClick={() => setPicking((p) => !p)} data-testid="heat-pick-open">
                  Draw over another recording
                </button>
                {chosenSnap && (
                  <>
                    {" · "}
                    <button type="button" className="heat-figure-link" onClick={() => set({ snap: undefined })} data-testid="heat-pick-newest">
                      Back to the newest
                    </button>
                  </>
                )}
              </p>
            ) : waitingChoice ? (
              <QueryStatus query={chosen} label="Reading the recording you chose…" />
            ) : (
              <p className="warn small" data-testid="heat-no-snapshot">
                No snapshot for this device: no recording of these pages on it can be rebuilt, so the map is drawn on a blank page {BLANK_WIDTH[q.device]} px wide.
                {Number(data.sessions ?? 0) > 0 && (
                  <>
                    {" "}
                    <button type="button" className="heat-figure-link" aria-expanded={picking} onClick={() => setPicking((p) => !p)} data-testid="heat-pick-open">
                      Pick a recording to draw over
                    </button>
                  </>
                )}
              </p>
            )}
            {picking && (
              <Suspense fallback={<p className="muted small">Finding recordings…</p>}>
                <SnapshotPicker
                  siteId={siteId}
                  query={q}
                  now={now}
                  current={snapshot?.sessionId}
                  onPick={(snap) => {
                    setPicking(false);
                    set({ snap });
                  }}
                />
              </Suspense>
            )}
            {!waitingChoice && (
              <div className="heat-body">
                <HeatStage
                  siteId={siteId}
                  snapshot={snapshot?.sessionId ? snapshot : undefined}
                  blankWidth={BLANK_WIDTH[q.device]}
                  kind={q.map}
                  data={data}
                  highlight={highlight}
                  onPick={clickMap ? (s) => navigate(recordingsUrl(s)) : undefined}
                  onNames={onNames}
                />
                <aside className="heat-side">
                  {clickMap && <ElementList data={data} map={q.map} link={recordingsUrl} onHighlight={setHighlight} name={nameOf} />}
                  {q.map === "scroll" && <ScrollTable data={data} />}
                  {q.map === "move" && <p className="muted small">Warm where pointers moved and rested most. Pointers are counted for up to 2 s at one spot.</p>}
                  <Legend />
                </aside>
              </div>
            )}
          </>
        )}
      </section>
    </div>
  );
}

function ElementList({
  data,
  map,
  link,
  onHighlight,
  name,
}: {
  data: Heatmap;
  map: MapKind;
  link: (s: string) => string;
  onHighlight: (s: string | undefined) => void;
  /** name answers what a visitor saw on an element of the rebuilt page ("" when nothing; undefined without a page). */
  name?: (selector: string) => string;
}) {
  const elements = useMemo(() => data.elements ?? [], [data]);
  const names = useMemo(() => elements.map((e) => (e.selector && name ? name(e.selector) : "")), [elements, name]);
  const descId = useId();
  const opens = clickLinkText(map);
  // The click map says which elements visitors rage- or dead-clicked ("2 rage · 3 dead clicks").
  const frustration = useMemo(() => elements.map((e) => (map === "click" ? frustrationText(Number(e.rageClicks ?? 0), Number(e.deadClicks ?? 0)) : "")), [elements, map]);
  return (
    <div className="heat-elements">
      <h2>{map === "rage" ? "Most rage-clicked elements" : map === "dead" ? "Most dead-clicked elements" : "Most-clicked elements"}</h2>
      {elements.length > 0 && (
        <p className="muted small" data-testid="heat-elements-opens">
          Each opens {opens}.
        </p>
      )}
      {elements.length === 0 ? (
        <p className="muted small">No clicks on these pages in this range.</p>
      ) : (
        <ol data-testid="heat-elements" onMouseLeave={() => onHighlight(undefined)}>
          {elements.map((e, i) => {
            const sel = e.selector ?? "";
            const what = names[i] ?? "";
            const label = (
              <>
                <span className="heat-rank" aria-hidden>
                  {i + 1}
                </span>
                <span className="heat-element-what">
                  {what && (
                    <span className="heat-element-name ellipsis" data-testid="heat-element-name">
                      {what}
                    </span>
                  )}
                  <code className="ellipsis" title={sel}>
                    {sel ? selectorTail(sel) : "(not anchored)"}
                  </code>
                  {frustration[i] && (
                    <span className="heat-element-frustration" data-testid="heat-element-frustration">
                      {frustration[i]}
                    </span>
                  )}
                </span>
                <span className="facet-count">
                  {Number(e.count ?? 0).toLocaleString()} · {percent(e.share ?? 0)}
                </span>
              </>
            );
            // The link's name is what it shows (so speech input finds it by
            // what is seen); what the figures mean and where it goes is its
            // description.
            return (
              <li key={sel || `none-${i}`}>
                {sel ? (
                  <>
                    <Link
                      className="heat-element"
                      to={link(sel)}
                      onMouseEnter={() => onHighlight(sel)}
                      onFocus={() => onHighlight(sel)}
                      onBlur={() => onHighlight(undefined)}
                      aria-describedby={`${descId}-${i}`}
                      data-testid="heat-element"
                      data-selector={sel}
                    >
                      {label}
                    </Link>
                    <span className="sr-only" id={`${descId}-${i}`}>
                      {`${plural(Number(e.count ?? 0), "click")}, ${percent(e.share ?? 0)} of the clicks${frustration[i] ? `, ${frustration[i]}` : ""}; opens ${opens}`}
                    </span>
                  </>
                ) : (
                  <span className="heat-element">{label}</span>
                )}
              </li>
            );
          })}
        </ol>
      )}
    </div>
  );
}


function ScrollTable({ data }: { data: Heatmap }) {
  const s = data.scroll;
  if (!s || !Number(s.pageViews ?? 0)) return <p className="muted small">No page view of these pages in this range.</p>;
  return (
    <div className="heat-scroll-table">
      <h2>How far down visitors scroll</h2>
      <dl className="heat-figures heat-figures-small">
        <div>
          <dt>Average fold</dt>
          <dd data-testid="heat-fold">{s.averageFold ?? 0} px</dd>
        </div>
        <div>
          <dt>Half reach</dt>
          <dd data-testid="heat-half">{s.halfDepth ?? 0} %</dd>
        </div>
        <div>
          <dt>Average page</dt>
          <dd>{s.averageHeight ?? 0} px</dd>
        </div>
      </dl>
      <table className="table" data-testid="heat-scroll-table">
        <caption className="sr-only">Share of page views that reached each depth of the page</caption>
        <thead>
          <tr>
            <th scope="col">Depth</th>
            <th scope="col">Reached</th>
          </tr>
        </thead>
        <tbody>
          {reachedByTen(s.reached ?? []).map((r) => (
            <tr key={r.depth}>
              <th scope="row">{r.depth} %</th>
              <td>{percent(r.share)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Legend() {
  return (
    <div className="heat-legend" aria-hidden>
      <span>fewer</span>
      <span className="heat-legend-bar" />
      <span>more</span>
    </div>
  );
}
