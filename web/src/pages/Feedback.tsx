// Feedback & surveys → Responses: every feedback-widget answer and survey
// response, newest first, with filters in the URL (rating, NPS group,
// survey, page rule, device, dates, has text); the NPS and rating
// distribution over time above (answers:stats), a CSV export of the same
// filter, and from each recorded answer a link to its moment in the replay.
import { useMemo } from "react";
import { Link } from "react-router";
import { useInfiniteQuery } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../api/client";
import { $api } from "../api/query";
import { DateRangeFilter } from "../components/DateRangeFilter";
import { DeviceIcon } from "../components/DeviceIcon";
import { EmptyState, ErrorBox, QueryStatus } from "../components/ui";
import { deviceLabel, RANGES, toggle, type UrlCondition } from "../lib/filters";
import { countLine, formatDateTime, plural, urlPath } from "../lib/format";
import { useUrlQuery } from "../lib/urlQuery";
import { RuleOpSelect, useRuleDraft } from "../heatmap/RuleControls";
import { NpsChart, RatingChart, ratingCounts } from "../feedback/Charts";
import { answerLines, FACE_LABELS, npsLabel, ratingLabel } from "../feedback/convert";
import { Face } from "../feedback/Face";
import { activeCount, ANSWER_DEVICES, csvParams, emptyResponsesQuery, fromParams, KINDS, NPS_GROUPS, npsGroupOf, statsInterval, toFilter, toParams, type ResponsesQuery } from "../feedback/query";
import { useSitePage } from "./Home";
import "../feedback/feedback.css";
import { withBase } from "../lib/base";

type Answer = Schemas["v1Answer"];
type Survey = Schemas["v1Survey"];

const PAGE_SIZE = 50;
/** A minute-rounded now, so relative ranges keep one query key while the page is open. */
const minuteNow = () => new Date(Math.floor(Date.now() / 60_000) * 60_000);

function PageRule({ value, onChange }: { value?: UrlCondition; onChange: (v: UrlCondition | undefined) => void }) {
  const { text, op, commit, inputProps } = useRuleDraft(value, onChange);
  return (
    <div className="filter-group">
      <span className="filter-label" id="fb-page">
        Page
      </span>
      <div className="row gap-small" role="group" aria-labelledby="fb-page">
        <RuleOpSelect label="How the page URL matches" value={op} onChange={(o) => commit(text, o)} testId="fb-page-op" />
      </div>
      <input
        aria-label="Page URL, path or pattern"
        placeholder="/checkout or https://shop.example.com/p/*"
        {...inputProps}
        data-testid="fb-page"
      />
    </div>
  );
}

function Filters({ q, set, surveys }: { q: ResponsesQuery; set: (p: Partial<ResponsesQuery>) => void; surveys: Survey[] }) {
  return (
    <aside className="filters" data-testid="fb-filters" aria-label="Filters">
      <DateRangeFilter presets={RANGES} value={q} onChange={set} testId="fb" />
      <div className="filter-group">
        <span className="filter-label">Source</span>
        <select value={q.kind ?? ""} onChange={(e) => set({ kind: (e.target.value || undefined) as ResponsesQuery["kind"] })} aria-label="Source" data-testid="fb-kind">
          <option value="">Widget and surveys</option>
          {KINDS.map((k) => (
            <option key={k.key} value={k.key}>
              {k.label}
            </option>
          ))}
        </select>
      </div>
      {surveys.length > 0 && (
        <fieldset className="filter-group plain-fieldset">
          <legend className="filter-label">Survey</legend>
          {surveys.map((s) => (
            <label key={s.id} className="check">
              <input type="checkbox" checked={q.surveys.includes(s.id ?? "")} onChange={() => set({ surveys: toggle(q.surveys, s.id ?? "") })} data-testid="fb-survey" />
              {s.name}
            </label>
          ))}
        </fieldset>
      )}
      <div className="filter-group">
        <span className="filter-label" id="fb-rating">
          Rating
        </span>
        <div className="row gap-small" role="group" aria-labelledby="fb-rating">
          <select aria-label="Lowest rating" value={q.ratingMin ?? ""} onChange={(e) => set({ ratingMin: e.target.value ? Number(e.target.value) : undefined })} data-testid="fb-rating-min">
            <option value="">from 1</option>
            {[1, 2, 3, 4, 5].map((n) => (
              <option key={n} value={n}>
                from {n} ({FACE_LABELS[n - 1]})
              </option>
            ))}
          </select>
          <select aria-label="Highest rating" value={q.ratingMax ?? ""} onChange={(e) => set({ ratingMax: e.target.value ? Number(e.target.value) : undefined })} data-testid="fb-rating-max">
            <option value="">to 5</option>
            {[1, 2, 3, 4, 5].map((n) => (
              <option key={n} value={n}>
                to {n} ({FACE_LABELS[n - 1]})
              </option>
            ))}
          </select>
        </div>
      </div>
      <fieldset className="filter-group plain-fieldset">
        <legend className="filter-label">NPS group</legend>
        {NPS_GROUPS.map((g) => (
          <label key={g.key} className="check">
            <input type="checkbox" checked={q.nps.includes(g.key)} onChange={() => set({ nps: toggle(q.nps, g.key) })} data-testid={`fb-nps-${g.key}`} />
            {g.label} ({g.range})
          </label>
        ))}
      </fieldset>
      <PageRule value={q.page} onChange={(page) => set({ page })} />
      <fieldset className="filter-group plain-fieldset">
        <legend className="filter-label">Device</legend>
        {ANSWER_DEVICES.map((d) => (
          <label key={d.key} className="check">
            <input type="checkbox" checked={q.devices.includes(d.key)} onChange={() => set({ devices: toggle(q.devices, d.key) })} data-testid={`fb-device-${d.key}`} />
            {d.label}
          </label>
        ))}
      </fieldset>
      <div className="filter-group">
        <label className="tri">
          <span>With text</span>
          <select value={q.hasText === undefined ? "" : q.hasText ? "1" : "0"} onChange={(e) => set({ hasText: e.target.value === "" ? undefined : e.target.value === "1" })} data-testid="fb-has-text">
            <option value="">Any</option>
            <option value="1">Yes</option>
            <option value="0">No</option>
          </select>
        </label>
      </div>
    </aside>
  );
}

/** WatchLink opens the replay at the moment of the answer (?at=: the replay finds the offset from the session's start). */
function WatchLink({ a, orgId, siteId }: { a: Answer; orgId: string; siteId: string }) {
  const sessionId = a.sessionId ?? "";
  if (!a.recorded || !sessionId) {
    const why = "The visitor was not being recorded when answering (not sampled in, recording off or no consent), so there is no replay.";
    return (
      <span className="fb-nowatch small" title={why} tabIndex={0} aria-label={`No recording: ${why}`} data-testid="no-watch">
        no recording
      </span>
    );
  }
  const at = a.clientTime ? Date.parse(a.clientTime) : NaN;
  const href = `/o/${orgId}/sites/${siteId}/recordings/${encodeURIComponent(sessionId)}${Number.isFinite(at) ? `?at=${at}` : ""}`;
  return (
    <Link to={href} className="btn btn-small" data-testid="watch" data-ready aria-label={`Watch the recording at ${formatDateTime(a.clientTime)}`}>
      ▶ Watch
    </Link>
  );
}

function AnswerRow({ a, survey, orgId, siteId }: { a: Answer; survey?: Survey; orgId: string; siteId: string }) {
  const c = a.client ?? {};
  const isSurvey = a.kind === "ANSWER_KIND_SURVEY";
  const lines = isSurvey ? answerLines(a, survey) : [];
  return (
    <tr data-testid="answer-row" data-answer-id={a.id}>
      <td className="small nowrap">{formatDateTime(a.clientTime)}</td>
      <td>
        {a.rating ? (
          <span title={ratingLabel(a.rating)} data-testid="answer-rating" data-rating={a.rating}>
            <Face rating={a.rating} />
          </span>
        ) : null}
        {a.nps !== undefined && a.nps !== null && (
          <div className="small" data-testid="answer-nps">
            NPS {a.nps} <span className="muted">({NPS_GROUPS.find((g) => g.key === npsGroupOf(a.nps!))?.label.replace(/s$/, "")})</span>
          </div>
        )}
      </td>
      <td>
        <div className="muted small">{isSurvey ? `Survey: ${survey?.name ?? a.surveyId}` : "Feedback widget"}</div>
        {a.comment && <div className="fb-comment" data-testid="answer-comment">{a.comment}</div>}
        {lines.length > 0 && (
          <dl className="fb-answers" data-testid="answer-lines">
            {lines.map((l, i) => (
              <div key={i}>
                <dt>{l.question}</dt>
                <dd className="fb-comment">{l.answer || <span className="muted">—</span>}</dd>
              </div>
            ))}
          </dl>
        )}
        {a.selector && (
          <div className="muted small" title={a.selector}>
            About an element: <code>{a.selector.length > 60 ? `…${a.selector.slice(-60)}` : a.selector}</code>
          </div>
        )}
      </td>
      <td className="small">
        <span className="fb-url" title={a.url}>
          {urlPath(a.url)}
        </span>
      </td>
      <td className="small nowrap">
        <DeviceIcon type={c.deviceType} /> <span className="sr-only">{deviceLabel(c.deviceType)}</span>
        {c.browser}
      </td>
      <td>
        <WatchLink a={a} orgId={orgId} siteId={siteId} />
      </td>
    </tr>
  );
}

function Figures({ stats }: { stats: Schemas["v1GetAnswerStatsResponse"] }) {
  const total = stats.total ?? {};
  const counts = ratingCounts({ counts: total });
  const rated = counts.reduce((a, b) => a + b, 0);
  const npsN = Number(total.promoters ?? 0) + Number(total.passives ?? 0) + Number(total.detractors ?? 0);
  const series = stats.series ?? [];
  return (
    <div className="fb-figures">
      <section className="card" aria-labelledby="fb-nps-h" data-testid="nps-figure">
        <h2 id="fb-nps-h" className="filter-label">
          Net Promoter Score
        </h2>
        <div className="fb-figure-big" data-testid="nps-value">
          {npsLabel(total.nps)}
        </div>
        <p className="muted small">
          {npsN ? `${plural(Number(total.promoters ?? 0), "promoter")}, ${plural(Number(total.passives ?? 0), "passive")}, ${plural(Number(total.detractors ?? 0), "detractor")}` : "No NPS answers in this range."}
        </p>
        {series.length > 0 && <NpsChart series={series} interval={stats.interval} />}
      </section>
      <section className="card" aria-labelledby="fb-rating-h" data-testid="rating-figure">
        <h2 id="fb-rating-h" className="filter-label">
          Ratings
        </h2>
        <div className="fb-figure-big" data-testid="rating-mean">
          {total.meanRating !== undefined && rated ? total.meanRating.toFixed(1) : "—"}
          <span className="muted small"> / 5 from {rated.toLocaleString()}</span>
        </div>
        <div className="fb-legend" data-testid="rating-counts">
          {counts.map((c, k) => (
            <span key={k} title={`${c} rated ${k + 1}`} className="row gap-small">
              <Face rating={k + 1} size={16} label={false} />
              <span className="sr-only">rated {k + 1}:</span> {c}
            </span>
          ))}
        </div>
        {series.length > 0 && <RatingChart series={series} interval={stats.interval} />}
      </section>
    </div>
  );
}

export default function Feedback() {
  const { orgId, siteId, site } = useSitePage();
  const { q, set, replace } = useUrlQuery(fromParams, toParams);
  const key = toParams(q).toString();
  const now = useMemo(minuteNow, [key]);
  const filter = useMemo(() => toFilter(q, now), [q, now]);
  const surveysQ = $api.useQuery("get", "/api/v1/sites/{siteId}/surveys", { params: { path: { siteId } } });
  const surveys = surveysQ.data?.surveys ?? [];
  const byId = useMemo(() => new Map(surveys.map((s) => [s.id ?? "", s])), [surveys]);
  const stats = $api.useQuery("post", "/api/v1/sites/{siteId}/answers:stats", {
    params: { path: { siteId } },
    body: { filter, interval: statsInterval(q, now), timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone },
  });
  const list = useInfiniteQuery({
    queryKey: ["post", "/api/v1/sites/{siteId}/answers:search", { siteId, key, now: now.getTime() }],
    queryFn: ({ pageParam, signal }) =>
      unwrap(api.POST("/api/v1/sites/{siteId}/answers:search", { params: { path: { siteId } }, body: { filter, pageSize: PAGE_SIZE, pageToken: pageParam || undefined }, signal })),
    initialPageParam: "",
    getNextPageParam: (last) => (last.answers?.length ? last.nextPageToken || undefined : undefined),
    refetchOnWindowFocus: false,
  });
  const answers = useMemo(() => {
    const seen = new Set<string>();
    return (list.data?.pages ?? []).flatMap((p) => p.answers ?? []).filter((a) => !seen.has(a.id ?? "") && !!seen.add(a.id ?? ""));
  }, [list.data]);
  const total = list.data?.pages[0] ? Number(list.data.pages[0].total ?? 0) : undefined;
  const n = activeCount(q);
  const csv = withBase(`/api/v1/sites/${encodeURIComponent(siteId)}/answers.csv?${csvParams(q, now).toString()}`);
  return (
    <div className="fb-layout" data-testid="feedback-page">
      <Filters q={q} set={set} surveys={surveys} />
      <section>
        <div className="rec-toolbar">
          <div>
            <h1>
              Responses <span className="muted site-title">{site.data?.site?.name}</span>
            </h1>
            <div className="muted" data-testid="answers-total">
              {total === undefined ? "…" : countLine(total, "response", n > 0)}
            </div>
          </div>
          <div className="row gap">
            {n > 0 && (
              <button className="btn btn-ghost btn-small" onClick={() => replace(emptyResponsesQuery())} data-testid="fb-clear">
                Clear filters ({n})
              </button>
            )}
            <a className="btn btn-small" href={csv} download data-testid="csv-export">
              Export CSV
            </a>
          </div>
        </div>
        {stats.data ? <Figures stats={stats.data} /> : <QueryStatus query={stats} label="Counting…" />}
        {!list.data ? (
          <QueryStatus query={list} />
        ) : answers.length === 0 ? (
          <EmptyState title={n ? "No response matches" : "No responses yet"} testId="answers-empty">
            {n ? "Try fewer filters or a longer date range." : (
              <>
                Turn on the <Link to={`/o/${orgId}/sites/${siteId}/feedback-widget`}>feedback widget</Link> or start a <Link to={`/o/${orgId}/sites/${siteId}/surveys`}>survey</Link>.
              </>
            )}
          </EmptyState>
        ) : (
          <div className="card">
            <table className="fb-table fb-stack" data-testid="answers-table">
              <caption className="sr-only">Responses, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Score</th>
                  <th scope="col">Answer</th>
                  <th scope="col">Page</th>
                  <th scope="col">Device</th>
                  <th scope="col">Recording</th>
                </tr>
              </thead>
              <tbody>
                {answers.map((a) => (
                  <AnswerRow key={a.id} a={a} survey={byId.get(a.surveyId ?? "")} orgId={orgId} siteId={siteId} />
                ))}
              </tbody>
            </table>
            {list.hasNextPage && (
              <div className="list-end">
                <button className="btn" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage} data-testid="answers-more">
                  {list.isFetchingNextPage ? "Loading…" : "Load more"}
                </button>
              </div>
            )}
            <ErrorBox error={list.error} />
          </div>
        )}
      </section>
    </div>
  );
}
