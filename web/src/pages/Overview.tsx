// Trends → Overview: a site's traffic over a date range in the site's time
// zone — tiles compared with the previous period, the series as a chart or a
// table, and breakdowns (pages, sources, locations, devices) with their top
// ten and "show all". Every figure and row opens the recordings list with
// the same sessions; a row's label narrows the overview to it.
import { useEffect, useMemo, useRef, useState } from "react";
import { Link } from "react-router";
import type { Schemas } from "../api/client";
import { $api } from "../api/query";
import { PathText } from "../components/PathText";
import { QueryStatus } from "../components/ui";
import type { RecordingsQuery } from "../lib/filters";
import { countryFlag, countryName, formatDuration, parseDuration, sharedPrefix } from "../lib/format";
import { useUrlQuery } from "../lib/urlQuery";
import { ChartTable, SeriesChart, ViewToggle, type Point } from "../traffic/Chart";
import { RangePicker } from "../traffic/RangePicker";
import {
  activeFilters,
  bucketLabel,
  daysIn,
  defaultInterval,
  delta,
  DIMENSIONS,
  formatCount,
  formatRate,
  fromParams,
  int,
  INTERVALS,
  intervalValue,
  rangeDates,
  rangeTimes,
  recordingsHref,
  rowFilter,
  rowHref,
  rowLabel,
  toParams,
  toTrafficFilter,
  unlinkable,
  validTimeZone,
  type DimensionInfo,
  type Sense,
  type TrafficQuery,
} from "../traffic/query";
import { useSitePage } from "./Home";
import "../traffic/traffic.css";

type Totals = Schemas["v1TrafficTotals"];
type Row = Schemas["v1TrafficRow"];

/** A minute-rounded now, so the query keys stay put while the page is open. */
const minuteNow = () => new Date(Math.floor(Date.now() / 60_000) * 60_000);

/** The breakdown cards and their tabs (keys into DIMENSIONS). */
const CARDS: { title: string; dims: string[] }[] = [
  { title: "Pages", dims: ["page", "entry", "exit"] },
  { title: "Sources", dims: ["referrer", "utm_source", "utm_medium", "utm_campaign"] },
  { title: "Locations", dims: ["country"] },
  { title: "Devices", dims: ["device", "browser", "os", "screen"] },
];

/** Short tab labels (the card's title says the rest). */
const TAB_LABELS: Record<string, string> = { page: "Pages", entry: "Entry", exit: "Exit", referrer: "Referrers", utm_source: "UTM source", utm_medium: "Medium", utm_campaign: "Campaign", device: "Devices", browser: "Browsers", os: "OS", screen: "Screens" };

function dim(key: string): DimensionInfo {
  return DIMENSIONS.find((d) => d.key === key)!;
}

interface TileSpec {
  key: string;
  label: string;
  value: (t: Totals) => number | undefined;
  format: (v: number | undefined) => string;
  sense: Sense;
  points?: boolean;
  note?: string;
  /** Extra recordings-list conditions for its link; undefined: no link. */
  link?: Partial<RecordingsQuery>;
}

const count = (v: number | undefined) => (v === undefined ? "—" : formatCount(v));
const TILES: TileSpec[] = [
  { key: "visitors", label: "Visitors", value: (t) => int(t.visitors), format: count, sense: "up-good", link: {} },
  { key: "sessions", label: "Sessions", value: (t) => int(t.sessions), format: count, sense: "up-good", link: {} },
  { key: "pageviews", label: "Page views", value: (t) => int(t.pageViews), format: count, sense: "up-good", link: {} },
  { key: "vps", label: "Views per session", value: (t) => (int(t.sessions) ? t.viewsPerSession ?? 0 : undefined), format: (v) => (v === undefined ? "—" : v.toFixed(2)), sense: "up-good", link: {} },
  { key: "bounce", label: "Bounce rate", value: (t) => (int(t.sessions) ? t.bounceRate ?? 0 : undefined), format: formatRate, sense: "up-bad", points: true, note: "Sessions with one page view", link: { maxPages: 1 } },
  { key: "duration", label: "Median session", value: (t) => (t.medianDuration ? parseDuration(t.medianDuration) : undefined), format: (v) => (v === undefined ? "—" : formatDuration(v)), sense: "up-good", link: {} },
  { key: "recorded", label: "Recorded sessions", value: (t) => int(t.recordedSessions), format: count, sense: "up-good", link: {} },
  { key: "rage", label: "Rage clicks", value: (t) => t.rageClickRate, format: formatRate, sense: "up-bad", points: true, note: "of recorded sessions", link: { hasRageClicks: true } },
  { key: "dead", label: "Dead clicks", value: (t) => t.deadClickRate, format: formatRate, sense: "up-bad", points: true, note: "of recorded sessions", link: { hasDeadClicks: true } },
  { key: "errors", label: "Errors", value: (t) => t.errorRate, format: formatRate, sense: "up-bad", points: true, note: "of recorded sessions", link: { hasErrors: true } },
];

function Tile({ spec, cur, prev, href, why }: { spec: TileSpec; cur: Totals; prev: Totals; href?: string; why?: string }) {
  const v = spec.value(cur);
  const pv = spec.value(prev);
  const d = delta(v, pv, spec.sense, spec.points);
  const body = (
    <>
      <span className="tr-tile-label">{spec.label}</span>
      <span className="tr-tile-value" data-testid={`tile-${spec.key}`}>
        {spec.format(v)}
      </span>
      <span className="tr-tile-foot">
        {d ? (
          <span className={`tr-delta tr-${d.tone}`} title={`${d.label} (${spec.format(pv)})`} data-testid={`delta-${spec.key}`}>
            {d.text}
            <span className="sr-only">, {d.label}</span>
          </span>
        ) : (
          <span className="muted">—</span>
        )}
        {spec.note && <span className="muted small"> {spec.note}</span>}
      </span>
    </>
  );
  return href ? (
    <Link className="tr-tile card" to={href} title={`Open the recordings behind “${spec.label}”`} data-testid={`tile-link-${spec.key}`}>
      {body}
    </Link>
  ) : (
    <div className="tr-tile card" title={why}>
      {body}
    </div>
  );
}

/** LiveBadge: visitors of the last five minutes, polled (the Realtime page streams). */
function LiveBadge({ siteId, to }: { siteId: string; to: string }) {
  const rt = $api.useQuery("get", "/api/v1/sites/{siteId}/traffic/realtime", { params: { path: { siteId } } }, { refetchInterval: 15_000, staleTime: 5_000 });
  const n = int(rt.data?.visitors);
  return (
    <Link to={to} className="tr-live" data-testid="live-badge" title="Visitors with a page view or event in the last 5 minutes">
      <span className={`tr-live-dot ${n ? "on" : ""}`} aria-hidden />
      {rt.data ? `${n.toLocaleString()} ${n === 1 ? "visitor" : "visitors"} now` : "Live"}
    </Link>
  );
}

function BreakdownRows({ d, rows, total, q, set, base, now, tz, testId }: { d: DimensionInfo; rows: Row[]; total: number; q: TrafficQuery; set: (p: Partial<TrafficQuery>) => void; base: string; now: Date; tz: string; testId: string }) {
  const max = Math.max(1, ...rows.map((r) => int(r.sessions)));
  const isPage = d.value === "TRAFFIC_DIMENSION_PAGE";
  // Page, entry and exit: long paths keep their end in view (the th's title has the whole URL).
  const isPath = isPage || d.value === "TRAFFIC_DIMENSION_ENTRY_PAGE" || d.value === "TRAFFIC_DIMENSION_EXIT_PAGE";
  const shared = isPath ? sharedPrefix(rows.map((r) => rowLabel(d.value, r.value ?? ""))) : "";
  return (
    <table className="tr-breakdown" data-testid={testId} data-dimension={d.key}>
      <caption className="sr-only">{d.label} by sessions</caption>
      <thead>
        <tr>
          <th scope="col">{d.one}</th>
          <th scope="col" className="num">
            Sessions
          </th>
          {isPage && (
            <th scope="col" className="num">
              Views
            </th>
          )}
          <th scope="col" className="num">
            <span className="sr-only">Recordings</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => {
          const value = r.value ?? "";
          const label = rowLabel(d.value, value);
          const sessions = int(r.sessions);
          const href = rowHref(base, q, d, value, now, tz);
          const patch = rowFilter(d, value);
          const canFilter = Object.keys(patch).length > 0;
          return (
            <tr key={value} data-testid="breakdown-row" data-value={value}>
              <th scope="row" className="tr-row-label" title={value || undefined}>
                <span className="tr-bar" style={{ width: `${(sessions / max) * 100}%` }} aria-hidden />
                {canFilter ? (
                  <button type="button" className="tr-row-button" onClick={() => set(patch)} title={`Show only sessions where the ${d.one.toLowerCase()} is ${label}`}>
                    {d.key === "country" && <span aria-hidden>{countryFlag(value)} </span>}
                    {d.key === "country" && value ? countryName(value) : isPath ? <PathText path={label} shared={shared} title={null} /> : label}
                  </button>
                ) : (
                  <span>{isPath ? <PathText path={label} shared={shared} title={null} /> : label}</span>
                )}
              </th>
              <td className="num" data-testid="row-sessions" title={total ? `${formatRate(sessions / total)} of sessions` : undefined}>
                {sessions.toLocaleString()}
              </td>
              {isPage && <td className="num">{int(r.pageViews).toLocaleString()}</td>}
              <td className="num">
                {href ? (
                  <Link to={href} className="tr-rec-link" aria-label={`Recordings of ${label}`} title={`Recordings of ${label}`} data-testid="row-recordings">
                    ▶
                  </Link>
                ) : (
                  <span className="muted tr-rec-link" title={d.key === "screen" ? "The recordings list has no screen-size filter." : value === "" ? `The recordings list has no filter for an unknown ${d.one.toLowerCase()}.` : unlinkable({ ...q, ...patch }) ?? ""}>
                    –
                  </span>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Breakdown({ card, siteId, range, filter, q, set, base, now, tz }: { card: (typeof CARDS)[number]; siteId: string; range: { start: string; end: string }; filter: Schemas["v1TrafficFilter"]; q: TrafficQuery; set: (p: Partial<TrafficQuery>) => void; base: string; now: Date; tz: string }) {
  const [tab, setTab] = useState(card.dims[0]!);
  const [all, setAll] = useState(false);
  const d = dim(tab);
  const res = $api.useQuery("post", "/api/v1/sites/{siteId}/traffic:breakdown", { params: { path: { siteId } }, body: { range, filter, dimension: d.value, limit: 10 } });
  const full = $api.useQuery("post", "/api/v1/sites/{siteId}/traffic:breakdown", { params: { path: { siteId } }, body: { range, filter, dimension: d.value, limit: 1000 } }, { enabled: all });
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const el = dialog.current;
    if (!el) return;
    if (all && !el.open) el.showModal();
    if (!all && el.open) el.close();
  }, [all]);
  const rows = res.data?.rows ?? [];
  const totalValues = int(res.data?.totalValues);
  const sessions = int(res.data?.sessions);
  const cardId = `bd-${card.title.toLowerCase()}`;
  return (
    <section className="card tr-card" aria-labelledby={`${cardId}-h`} data-testid={cardId}>
      <div className="tr-card-head">
        <h2 id={`${cardId}-h`}>{card.title}</h2>
        {card.dims.length > 1 && (
          <div className="tr-seg" role="group" aria-label={`${card.title}: group by`}>
            {card.dims.map((k) => (
              <button key={k} type="button" className={k === tab ? "on" : ""} aria-pressed={k === tab} onClick={() => setTab(k)} data-testid={`tab-${k}`}>
                {TAB_LABELS[k] ?? dim(k).label}
              </button>
            ))}
          </div>
        )}
      </div>
      {!res.data ? (
        <QueryStatus query={res} />
      ) : rows.length === 0 ? (
        <p className="muted tr-none">No {d.label.toLowerCase()} in this range.</p>
      ) : (
        <>
          <BreakdownRows d={d} rows={rows} total={sessions} q={q} set={set} base={base} now={now} tz={tz} testId={`breakdown-${d.key}`} />
          {totalValues > rows.length && (
            <button type="button" className="btn btn-small btn-ghost tr-all" onClick={() => setAll(true)} data-testid={`show-all-${d.key}`}>
              Show all {totalValues.toLocaleString()} {d.label.toLowerCase()}
            </button>
          )}
        </>
      )}
      <dialog ref={dialog} className="tr-dialog" onClose={() => setAll(false)} aria-labelledby={`${cardId}-all-h`} data-testid={`all-${d.key}`}>
        <div className="tr-card-head">
          <h2 id={`${cardId}-all-h`}>
            {d.label} <span className="muted small">{totalValues > 1000 ? `top 1,000 of ${totalValues.toLocaleString()}` : `${totalValues.toLocaleString()} in all`}</span>
          </h2>
          <button type="button" className="btn btn-small" onClick={() => setAll(false)} autoFocus>
            Close
          </button>
        </div>
        {all && (full.data ? <BreakdownRows d={d} rows={full.data.rows ?? []} total={int(full.data.sessions)} q={q} set={(p) => { setAll(false); set(p); }} base={base} now={now} tz={tz} testId={`breakdown-all-${d.key}`} /> : <QueryStatus query={full} />)}
      </dialog>
    </section>
  );
}

/** A bucket's length in seconds, for a chart with one bucket. */
const STEP: Record<string, number> = { TRAFFIC_INTERVAL_HOUR: 3_600, TRAFFIC_INTERVAL_DAY: 86_400, TRAFFIC_INTERVAL_WEEK: 604_800 };

const METRICS = [
  { key: "visitors", label: "Visitors" },
  { key: "sessions", label: "Sessions" },
  { key: "pageViews", label: "Page views" },
] as const;

export default function Overview() {
  const { orgId, siteId, site } = useSitePage();
  const { q, set, replace } = useUrlQuery(fromParams, toParams);
  const key = toParams(q).toString();
  const now = useMemo(minuteNow, [key]);
  const tz = validTimeZone(site.data?.site?.settings?.timeZone);
  const base = `/o/${orgId}/sites/${siteId}`;
  const range = useMemo(() => rangeTimes(q, now, tz), [q, now, tz]);
  const dates = rangeDates(q, now, tz);
  const days = daysIn(dates.from, dates.to);
  const filter = useMemo(() => toTrafficFilter(q), [q]);
  const interval = q.interval ?? defaultInterval(days);
  const [metric, setMetric] = useState<(typeof METRICS)[number]["key"]>("visitors");
  const [asTable, setAsTable] = useState(false);
  const ov = $api.useQuery(
    "post",
    "/api/v1/sites/{siteId}/traffic:overview",
    { params: { path: { siteId } }, body: { range, filter, interval: intervalValue(q.interval), timeZone: tz === "UTC" ? "" : tz } },
    { enabled: !!site.data },
  );
  const chips = activeFilters(q);
  const why = unlinkable(q);
  const series = ov.data?.series ?? [];
  const points: Point[] = series.map((b) => ({ t: Date.parse(b.start ?? ""), long: bucketLabel(b.start, ov.data?.interval, tz, true), value: int(b[metric]) }));
  const metricLabel = METRICS.find((m) => m.key === metric)!.label;
  return (
    <div className="tr-page" data-testid="overview-page">
      <div className="page-header">
        <div>
          <h1>
            Overview <span className="muted site-title">{site.data?.site?.name}</span>
          </h1>
          <p className="muted small" data-testid="tr-tz">
            {dates.from === dates.to ? dates.from : `${dates.from} – ${dates.to}`} · days in {tz === "UTC" ? "UTC" : tz} ·{" "}
            <Link to={`${base}/setup?tab=settings#time-zone`}>change</Link>
          </p>
        </div>
        <div className="page-actions row gap">
          <LiveBadge siteId={siteId} to={`${base}/realtime`} />
          <RangePicker q={q} set={(p) => set({ ...p, interval: undefined })} tz={tz} />
        </div>
      </div>
      {chips.length > 0 && (
        <div className="tr-chips" aria-label="Filters" data-testid="tr-chips">
          {chips.map((c) => (
            <span key={c.key} className="tr-chip">
              {c.label}: <strong>{c.key === "country" ? countryName(c.value) : c.value}</strong>
              <button type="button" aria-label={`Remove filter ${c.label}`} onClick={() => set(c.key === "direct" ? { direct: undefined } : { [c.key]: undefined })}>
                ×
              </button>
            </span>
          ))}
          <button type="button" className="btn btn-small btn-ghost" onClick={() => replace({ range: q.range, from: q.from, to: q.to, interval: q.interval })}>
            Clear all
          </button>
        </div>
      )}
      {!ov.data ? (
        <QueryStatus query={site.data ? ov : site} label="Counting…" />
      ) : (
        <>
          <div className="tr-tiles" data-testid="tr-tiles">
            {TILES.map((t) => (
              <Tile
                key={t.key}
                spec={t}
                cur={ov.data.current ?? {}}
                prev={ov.data.previous ?? {}}
                href={t.link ? recordingsHref(base, q, now, tz, t.link) : undefined}
                why={why ?? "No recordings filter for this figure."}
              />
            ))}
          </div>
          <p className="muted small tr-compare">Arrows compare with the previous {days === 1 ? "day" : `${days} days`}. Rates of rage clicks, dead clicks and errors count recorded sessions only.</p>
          <section className="card" aria-labelledby="tr-series-h">
            <div className="tr-card-head">
              <h2 id="tr-series-h" className="sr-only">
                {metricLabel} over time
              </h2>
              <div className="tr-seg" role="group" aria-label="Metric">
                {METRICS.map((m) => (
                  <button key={m.key} type="button" className={m.key === metric ? "on" : ""} aria-pressed={m.key === metric} onClick={() => setMetric(m.key)} data-testid={`metric-${m.key}`}>
                    {m.label}
                  </button>
                ))}
              </div>
              <div className="row gap-small">
                <div className="tr-seg" role="group" aria-label="Interval">
                  {INTERVALS.map((i) => {
                    const tooMany = i.key === "hour" && days > 41;
                    return (
                      <button key={i.key} type="button" className={i.key === interval ? "on" : ""} aria-pressed={i.key === interval} disabled={tooMany} title={tooMany ? "Hours are available for ranges up to 41 days" : undefined} onClick={() => set({ interval: i.key })} data-testid={`interval-${i.key}`}>
                        {i.label}
                      </button>
                    );
                  })}
                </div>
                <ViewToggle asTable={asTable} onChange={setAsTable} testId="view-table" />
              </div>
            </div>
            {asTable ? (
              <ChartTable
                testId="series-table"
                caption="Visitors, sessions and page views per interval"
                headers={["Interval", "Visitors", "Sessions", "Page views"]}
                rows={series.map((b) => [bucketLabel(b.start, ov.data.interval, tz, true), int(b.visitors), int(b.sessions), int(b.pageViews)])}
              />
            ) : (
              <SeriesChart points={points} metric={metricLabel} testId="series-chart" tz={tz} step={STEP[ov.data.interval ?? ""] ?? 86_400} />
            )}
          </section>
          <div className="tr-cards">
            {CARDS.map((c) => (
              <Breakdown key={c.title} card={c} siteId={siteId} range={range} filter={filter} q={q} set={set} base={base} now={now} tz={tz} />
            ))}
          </div>
        </>
      )}
    </div>
  );
}
