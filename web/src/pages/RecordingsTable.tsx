// The recordings list as a virtualised table: only the rows near the
// viewport are in the DOM (a list of thousands scrolls like one of fifty),
// while the table keeps its semantics: aria-rowcount is the whole list,
// aria-rowindex each rendered row's place in it, and the arrow keys move
// from row to row, scrolling rows that are not rendered yet into view.
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { Link, useNavigate } from "react-router";
import { useWindowVirtualizer } from "@tanstack/react-virtual";
import type { Schemas } from "../api/client";
import { DeviceIcon } from "../components/DeviceIcon";
import { PathText } from "../components/PathText";
import { deviceLabel } from "../lib/filters";
import { countryName, formatDateTime, formatDuration, formatRelative, parseDuration, plural, sharedPrefix, urlPath } from "../lib/format";

type Summary = Schemas["v1SessionSummary"];

/** A row's height before it is measured (two lines of text and padding). */
const ROW_ESTIMATE_PX = 58;
/** Rows rendered beyond each edge of the viewport, so fast scrolling shows no gaps. */
const OVERSCAN = 10;
/** The next page is asked for this many rows before the end of the loaded list. */
const PREFETCH_ROWS = 15;
const COLUMNS = 7;

function Badges({ s }: { s: Summary }) {
  return (
    <span className="badges">
      {(s.rageClickCount ?? 0) > 0 && (
        <span className="badge badge-rage" data-testid="badge-rage" title={`${s.rageClickCount} rage clicks`}>
          Rage ×{s.rageClickCount}
        </span>
      )}
      {(s.deadClickCount ?? 0) > 0 && (
        <span className="badge badge-dead" data-testid="badge-dead" title={`${s.deadClickCount} dead clicks`}>
          Dead ×{s.deadClickCount}
        </span>
      )}
      {(s.feedbackCount ?? 0) > 0 && (
        <span
          className={`badge ${(s.minFeedbackRating ?? 0) > 0 && (s.minFeedbackRating ?? 0) <= 2 ? "badge-rage" : "badge-ok"}`}
          data-testid="badge-feedback"
          title={`${plural(s.feedbackCount ?? 0, "feedback answer")}, lowest rating ${s.minFeedbackRating || "none"} of 5`}
        >
          Feedback {s.minFeedbackRating ? `${s.minFeedbackRating}/5` : `×${s.feedbackCount}`}
        </span>
      )}
      {(s.surveyResponseCount ?? 0) > 0 && (
        <span className="badge badge-dead" data-testid="badge-survey" title={plural(s.surveyResponseCount ?? 0, "survey response")}>
          Survey ×{s.surveyResponseCount}
        </span>
      )}
      {(s.errorCount ?? 0) > 0 && (
        <span className="badge badge-error" data-testid="badge-error" title={plural(s.errorCount ?? 0, "error")}>
          Errors ×{s.errorCount}
        </span>
      )}
    </span>
  );
}

const Row = memo(function Row({
  s,
  to,
  watched,
  index,
  measure,
  shared,
}: {
  s: Summary;
  to: string;
  watched: boolean;
  index: number;
  /** The start every entry page of the list shares, left out (PathText). */
  shared: string;
  measure: (el: HTMLTableRowElement | null) => void;
}) {
  const navigate = useNavigate();
  const c = s.client ?? {};
  return (
    <tr
      ref={measure}
      className={`rec-row ${watched ? "rec-watched" : ""}`}
      data-testid="recording-row"
      data-session-id={s.sessionId}
      data-watched={watched ? "1" : "0"}
      data-index={index}
      // Row 1 is the header.
      aria-rowindex={index + 2}
      onClick={() => navigate(to)}
      title={watched ? "You've watched this recording" : undefined}
    >
      <td>
        <Link to={to} className="play" aria-label="Play recording" onClick={(e) => e.stopPropagation()}>
          ▶
        </Link>
      </td>
      <td className="rec-started" title={formatDateTime(s.startTime)}>
        <div>{formatRelative(s.startTime)}</div>
        <div className="muted small">{s.userId || `Visitor ${(s.visitorId ?? "").slice(2, 8)}`}</div>
      </td>
      <td className="num" data-testid="recording-duration">
        {formatDuration(parseDuration(s.duration))}
        <div className="muted small">{formatDuration(parseDuration(s.activeDuration))} active</div>
      </td>
      <td className="pages-cell">
        <div>{plural(s.pageCount ?? 0, "page")}</div>
        <PathText className="muted small rec-path" path={urlPath(s.entryUrl)} shared={shared} title={s.entryUrl} />
      </td>
      <td className="rec-col-minor">
        <span title={deviceLabel(c.deviceType)}>
          <DeviceIcon type={c.deviceType} />
        </span>
        {c.browser || "Unknown"} <span className="muted small">· {c.os || "?"}</span>
      </td>
      <td className="rec-col-minor" title={countryName(c.country)}>{c.country ? <span className="cc">{c.country}</span> : "—"}</td>
      <td>
        <Badges s={s} />
      </td>
    </tr>
  );
});


/** The keys that move focus between rows, and where to. */
function targetRow(key: string, index: number, count: number): number | undefined {
  switch (key) {
    case "ArrowDown":
      return Math.min(count - 1, index + 1);
    case "ArrowUp":
      return Math.max(0, index - 1);
    case "Home":
      return 0;
    case "End":
      return count - 1;
    default:
      return undefined;
  }
}

export function RecordingsTable({
  items,
  total,
  link,
  watched,
  hasMore,
  loadingMore,
  loadMore,
}: {
  items: Summary[];
  total: number;
  link: (id: string) => string;
  watched: Set<string>;
  hasMore: boolean;
  loadingMore: boolean;
  loadMore: () => void;
}) {
  const body = useRef<HTMLTableSectionElement>(null);
  // The window scrolls; the rows start where the table body does, which
  // moves when something above it appears (the new-recordings offer, an
  // error), so it is measured after every render.
  const [scrollMargin, setScrollMargin] = useState(0);
  useLayoutEffect(() => {
    const el = body.current;
    if (!el) return;
    const top = el.getBoundingClientRect().top + window.scrollY;
    if (Math.abs(top - scrollMargin) > 0.5) setScrollMargin(top);
  });
  const virtualizer = useWindowVirtualizer({
    count: items.length,
    estimateSize: () => ROW_ESTIMATE_PX,
    overscan: OVERSCAN,
    scrollMargin,
    getItemKey: (i) => items[i]?.sessionId ?? i,
  });
  const rows = virtualizer.getVirtualItems();
  const shared = useMemo(() => sharedPrefix(items.map((s) => urlPath(s.entryUrl))), [items]);
  const last = rows[rows.length - 1]?.index ?? 0;
  useEffect(() => {
    if (hasMore && !loadingMore && last >= items.length - PREFETCH_ROWS) loadMore();
  }, [hasMore, loadingMore, last, items.length, loadMore]);

  // Focus follows the arrow keys even into rows that are not rendered yet.
  const pendingFocus = useRef<number | undefined>(undefined);
  const focusRow = useCallback((i: number) => {
    const a = body.current?.querySelector<HTMLAnchorElement>(`tr[data-index="${i}"] a`);
    if (!a) return false;
    a.focus();
    return true;
  }, []);
  useEffect(() => {
    if (pendingFocus.current !== undefined && focusRow(pendingFocus.current)) pendingFocus.current = undefined;
  });
  const onKeyDown = (e: KeyboardEvent<HTMLTableSectionElement>) => {
    const tr = (e.target as HTMLElement).closest<HTMLTableRowElement>("tr[data-index]");
    if (!tr) return;
    const next = targetRow(e.key, Number(tr.dataset.index), items.length);
    if (next === undefined) return;
    e.preventDefault();
    virtualizer.scrollToIndex(next, { align: "auto" });
    if (!focusRow(next)) pendingFocus.current = next;
  };

  const before = rows.length ? rows[0]!.start - scrollMargin : 0;
  const after = rows.length ? virtualizer.getTotalSize() - (rows[rows.length - 1]!.end - scrollMargin) : 0;
  return (
    <>
      <table className="rec-table" data-testid="recordings-list" aria-rowcount={total + 1} aria-label="Recordings">
        <thead>
          <tr aria-rowindex={1}>
            <th>
              <span className="sr-only">Play</span>
            </th>
            <th>Started</th>
            <th>Duration</th>
            <th>Pages</th>
            {/* On a phone these two give way to the columns people choose a recording by. */}
            <th className="rec-col-minor">Device</th>
            <th className="rec-col-minor">Country</th>
            <th>Signals</th>
          </tr>
        </thead>
        <tbody ref={body} onKeyDown={onKeyDown}>
          {before > 0 && (
            <tr aria-hidden="true" className="rec-spacer">
              <td colSpan={COLUMNS} style={{ height: before, padding: 0, border: 0 }} />
            </tr>
          )}
          {rows.map((v) => {
            const s = items[v.index]!;
            const id = s.sessionId ?? "";
            return <Row key={v.key} s={s} to={link(id)} watched={watched.has(id)} index={v.index} measure={virtualizer.measureElement} shared={shared} />;
          })}
          {after > 0 && (
            <tr aria-hidden="true" className="rec-spacer">
              <td colSpan={COLUMNS} style={{ height: after, padding: 0, border: 0 }} />
            </tr>
          )}
        </tbody>
      </table>
      <div className="list-end">
        {hasMore ? (
          <button className="btn" onClick={loadMore} disabled={loadingMore} data-testid="load-more">
            {loadingMore ? "Loading…" : "Load more"}
          </button>
        ) : (
          <span className="muted small" data-testid="list-end">
            {items.length === total ? `All ${plural(total, "recording")} shown` : `${items.length.toLocaleString()} shown`}
          </span>
        )}
      </div>
    </>
  );
}
