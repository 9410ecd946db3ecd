import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { Link, useSearchParams } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { type Schemas } from "../api/client";
import { listPageSize, sessionSearchKey, useNewSessions, useSessionSearch } from "../api/sessionSearch";
import { useApp } from "../app/AppContext";
import { ErrorBox, EmptyState, QueryStatus } from "../components/ui";
import { DateRangeFilter } from "../components/DateRangeFilter";
import { DemoCard, isDemoSite } from "../components/DemoCard";
import { PathText } from "../components/PathText";
import {
  activeFilters,
  DEVICE_TYPES,
  deviceLabel,
  emptyQuery,
  fromSearchParams,
  RANGES,
  SORTS,
  toggle,
  toSearchParams,
  URL_OP_LABELS,
  type ActiveFilter,
  type RecordingsQuery,
  type UrlCondition,
} from "../lib/filters";
import { countLine, countryName, plural, sharedPrefix, urlPath } from "../lib/format";
import { watchedSet } from "../lib/watched";
import { useSitePage } from "./Home";
import { RecordingsTable } from "./RecordingsTable";

type Facet = Schemas["v1Facet"];

/** A text/number input that commits on Enter or blur, not on every key. */
function CommitInput({
  value,
  onCommit,
  type = "text",
  placeholder,
  testId,
  className,
  label,
}: {
  value: string;
  onCommit: (v: string) => void;
  type?: "text" | "number";
  placeholder?: string;
  testId?: string;
  className?: string;
  label?: string;
}) {
  const [v, setV] = useState(value);
  useEffect(() => setV(value), [value]);
  return (
    <input
      type={type}
      min={type === "number" ? 0 : undefined}
      value={v}
      placeholder={placeholder}
      aria-label={label ?? placeholder}
      className={className}
      data-testid={testId}
      onChange={(e) => setV(e.target.value)}
      onBlur={() => v !== value && onCommit(v)}
      onKeyDown={(e) => e.key === "Enter" && v !== value && onCommit(v)}
    />
  );
}

const optNum = (s: string) => (s.trim() === "" || !Number.isFinite(Number(s)) || Number(s) < 0 ? undefined : Number(s));

function TriState({
  label,
  value,
  onChange,
  testId,
}: {
  label: string;
  value: boolean | undefined;
  onChange: (v: boolean | undefined) => void;
  testId: string;
}) {
  return (
    <label className="tri">
      <span>{label}</span>
      <select
        value={value === undefined ? "" : value ? "1" : "0"}
        onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value === "1")}
        data-testid={testId}
      >
        <option value="">Any</option>
        <option value="1">Yes</option>
        <option value="0">No</option>
      </select>
    </label>
  );
}

function FacetList({
  title,
  facet,
  selected,
  onToggle,
  label = (v) => v,
  testId,
  fixed,
}: {
  title: string;
  facet: Facet | undefined;
  selected: string[];
  onToggle: (v: string) => void;
  label?: (v: string) => string;
  testId: string;
  fixed?: string[];
}) {
  const counts = new Map((facet?.counts ?? []).map((c) => [c.value ?? "", Number(c.count ?? 0)]));
  const values = fixed ?? [...new Set([...(facet?.counts ?? []).map((c) => c.value ?? ""), ...selected])].filter(Boolean);
  if (values.length === 0) return null;
  return (
    <div className="facet" data-testid={testId}>
      <div className="facet-title">{title}</div>
      {values.map((v) => (
        <label key={v} className="facet-option">
          <input type="checkbox" checked={selected.includes(v)} onChange={() => onToggle(v)} value={v} />
          <span className="facet-label">{label(v)}</span>
          {counts.has(v) && <span className="facet-count">{counts.get(v)!.toLocaleString()}</span>}
        </label>
      ))}
    </div>
  );
}

function UrlFilter({ label, value, onChange, testId }: { label: string; value?: UrlCondition; onChange: (v?: UrlCondition) => void; testId: string }) {
  const op = value?.op ?? "contains";
  return (
    <div className="url-filter">
      <span className="filter-label">{label}</span>
      <div className="row">
        <select
          value={op}
          onChange={(e) => value && onChange({ ...value, op: e.target.value as UrlCondition["op"] })}
          aria-label={`${label} match`}
        >
          {URL_OP_LABELS.map((o) => (
            <option key={o.op} value={o.op}>
              {o.label}
            </option>
          ))}
        </select>
        <CommitInput
          value={value?.value ?? ""}
          placeholder="/pricing"
          label={label}
          testId={testId}
          onCommit={(v) => onChange(v.trim() ? { op, value: v.trim() } : undefined)}
        />
      </div>
    </div>
  );
}

/**
 * FoldedGroup is a section of less used filters, folded unless it holds an
 * active filter. Open or shut is then the user's: it opens when one of its
 * filters becomes active but never shuts by itself (an `open` bound to the
 * filters shut it under the user's hands when they cleared its last value).
 */
function FoldedGroup({ title, active, testId, children }: { title: string; active: boolean; testId: string; children: ReactNode }) {
  const [open, setOpen] = useState(active);
  useEffect(() => {
    if (active) setOpen(true);
  }, [active]);
  return (
    <details className="filter-group filter-more" open={open} onToggle={(e) => setOpen(e.currentTarget.open)} data-testid={testId}>
      <summary>{title}</summary>
      {children}
    </details>
  );
}

// The facets whose values are free text, each a list of the query.
const TEXT_FACETS: { title: string; facet: Schemas["v1FacetField"]; field: "browsers" | "oses" | "countries"; testId: string; label?: (v: string) => string }[] = [
  { title: "Browser", facet: "FACET_FIELD_BROWSER", field: "browsers", testId: "filter-browser" },
  { title: "Operating system", facet: "FACET_FIELD_OS", field: "oses", testId: "filter-os" },
  { title: "Country", facet: "FACET_FIELD_COUNTRY", field: "countries", testId: "filter-country", label: (c) => `${countryName(c)} (${c})` },
];

// The conditions on an element, by its selector path: clicked (a click map's
// links), rage- and dead-clicked (a rage or dead map's).
const ELEMENT_FILTERS: { field: "clickedElement" | "rageClickedElement" | "deadClickedElement"; label: string; testId: string }[] = [
  { field: "clickedElement", label: "Clicked element", testId: "filter-clicked" },
  { field: "rageClickedElement", label: "Rage-clicked element", testId: "filter-rage-on" },
  { field: "deadClickedElement", label: "Dead-clicked element", testId: "filter-dead-on" },
];

/**
 * ActiveFilterChips says above the list what narrows it — on a phone the
 * panel is folded away, and a heatmap's link sets conditions the user never
 * typed — each removable by itself.
 */
function ActiveFilterChips({ chips, set }: { chips: ActiveFilter[]; set: (p: Partial<RecordingsQuery>) => void }) {
  if (chips.length === 0) return null;
  return (
    <ul className="chips active-filters" aria-label="Active filters" data-testid="active-filters">
      {chips.map((c) => {
        const text = c.value ? `${c.name} ${c.value}` : c.name;
        return (
          <li key={c.id} className="chip filter-chip" data-testid="filter-chip" data-filter={c.id} title={text}>
            <span className="filter-chip-name">{c.name}</span>
            {c.value && <span className="filter-chip-value">{c.value}</span>}
            <button type="button" className="chip-x" aria-label={`Remove filter: ${text}`} onClick={() => set(c.clear)}>
              ×
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/**
 * Filters is the panel of every filter: a column beside the list, and on a
 * phone a panel the toolbar's "Filters" button opens (open) above the list.
 */
function Filters({
  q,
  set,
  facets,
  open,
  onDone,
  total,
}: {
  q: RecordingsQuery;
  set: (p: Partial<RecordingsQuery>) => void;
  facets: Map<string, Facet>;
  open: boolean;
  onDone: () => void;
  total: number | undefined;
}) {
  const [attrKey, setAttrKey] = useState("");
  const [attrVal, setAttrVal] = useState("");
  const pages = facets.get("FACET_FIELD_PAGE")?.counts ?? [];
  const shared = sharedPrefix(pages.slice(0, 6).map((p) => urlPath(p.value)));
  return (
    <aside id="recording-filters" className={`filters ${open ? "filters-open" : ""}`} aria-label="Filters" data-testid="filters">
      <DateRangeFilter presets={RANGES} value={q} onChange={set} testId="filter" />

      <div className="filter-group">
        <span className="filter-label">Frustration</span>
        <TriState label="Rage clicks" value={q.hasRageClicks} onChange={(v) => set({ hasRageClicks: v })} testId="filter-rage" />
        <TriState label="Dead clicks" value={q.hasDeadClicks} onChange={(v) => set({ hasDeadClicks: v })} testId="filter-dead" />
        <TriState label="Errors" value={q.hasErrors} onChange={(v) => set({ hasErrors: v })} testId="filter-errors" />
      </div>

      <div className="filter-group">
        <span className="filter-label">Feedback</span>
        <TriState label="Has feedback" value={q.hasFeedback} onChange={(v) => set({ hasFeedback: v })} testId="filter-feedback" />
        <label className="tri">
          <span>Rating at most</span>
          <select
            value={q.feedbackRatingMax ?? ""}
            onChange={(e) => set({ feedbackRatingMax: e.target.value ? Number(e.target.value) : undefined })}
            data-testid="filter-feedback-rating"
          >
            <option value="">Any</option>
            {[1, 2, 3, 4, 5].map((n) => (
              <option key={n} value={n}>
                {n} of 5
              </option>
            ))}
          </select>
        </label>
      </div>

      <FacetList
        title="Device"
        facet={facets.get("FACET_FIELD_DEVICE_TYPE")}
        selected={q.devices}
        fixed={DEVICE_TYPES.map((d) => d.value)}
        label={deviceLabel}
        onToggle={(v) => set({ devices: toggle(q.devices, v) as RecordingsQuery["devices"] })}
        testId="filter-device"
      />
      {TEXT_FACETS.map((f) => (
        <FacetList
          key={f.field}
          title={f.title}
          facet={facets.get(f.facet)}
          selected={q[f.field]}
          label={f.label}
          onToggle={(v) => set({ [f.field]: toggle(q[f.field], v) })}
          testId={f.testId}
        />
      ))}

      <div className="filter-group">
        <UrlFilter label="Visited page" value={q.visitedPage} onChange={(v) => set({ visitedPage: v })} testId="filter-visited" />
        {pages.length > 0 && (
          <div className="top-pages">
            {pages.slice(0, 6).map((p) => (
              <button
                key={p.value}
                className="link-button small"
                title={p.value}
                onClick={() => set({ visitedPage: { op: "equals", value: p.value ?? "" } })}
              >
                <PathText path={urlPath(p.value)} shared={shared} title={null} />
                <span className="facet-count">{Number(p.count ?? 0).toLocaleString()}</span>
              </button>
            ))}
          </div>
        )}
        <UrlFilter label="Entry page" value={q.entryPage} onChange={(v) => set({ entryPage: v })} testId="filter-entry" />
        <UrlFilter label="Exit page" value={q.exitPage} onChange={(v) => set({ exitPage: v })} testId="filter-exit" />
      </div>

      <FoldedGroup title="Duration and pages" active={[q.minDuration, q.maxDuration, q.minActive, q.maxActive, q.minPages, q.maxPages].some((v) => v !== undefined)} testId="filters-duration">
        <span className="filter-label">Duration (seconds)</span>
        <div className="row gap-small">
          <CommitInput type="number" value={q.minDuration?.toString() ?? ""} placeholder="min" testId="filter-duration-min" onCommit={(v) => set({ minDuration: optNum(v) })} className="input-short" />
          <CommitInput type="number" value={q.maxDuration?.toString() ?? ""} placeholder="max" testId="filter-duration-max" onCommit={(v) => set({ maxDuration: optNum(v) })} className="input-short" />
        </div>
        <span className="filter-label">Active time (seconds)</span>
        <div className="row gap-small">
          <CommitInput type="number" value={q.minActive?.toString() ?? ""} placeholder="min" testId="filter-active-min" onCommit={(v) => set({ minActive: optNum(v) })} className="input-short" />
          <CommitInput type="number" value={q.maxActive?.toString() ?? ""} placeholder="max" testId="filter-active-max" onCommit={(v) => set({ maxActive: optNum(v) })} className="input-short" />
        </div>
        <span className="filter-label">Pages</span>
        <div className="row gap-small">
          <CommitInput type="number" value={q.minPages?.toString() ?? ""} placeholder="min" testId="filter-pages-min" onCommit={(v) => set({ minPages: optNum(v) })} className="input-short" />
          <CommitInput type="number" value={q.maxPages?.toString() ?? ""} placeholder="max" testId="filter-pages-max" onCommit={(v) => set({ maxPages: optNum(v) })} className="input-short" />
        </div>
      </FoldedGroup>

      <FoldedGroup title="Traffic source" active={!!(q.referrerDomain || q.utmSource || q.utmMedium || q.utmCampaign)} testId="filters-traffic">
        <CommitInput value={q.referrerDomain ?? ""} placeholder="Referrer domain (google.com)" testId="filter-referrer" onCommit={(v) => set({ referrerDomain: v.trim() || undefined })} />
        <CommitInput value={q.utmSource ?? ""} placeholder="utm_source" testId="filter-utm-source" onCommit={(v) => set({ utmSource: v.trim() || undefined })} />
        <CommitInput value={q.utmMedium ?? ""} placeholder="utm_medium" testId="filter-utm-medium" onCommit={(v) => set({ utmMedium: v.trim() || undefined })} />
        <CommitInput value={q.utmCampaign ?? ""} placeholder="utm_campaign" testId="filter-utm-campaign" onCommit={(v) => set({ utmCampaign: v.trim() || undefined })} />
      </FoldedGroup>

      <FoldedGroup title="Users and events" active={!!(q.userId || q.customEvent || ELEMENT_FILTERS.some((f) => q[f.field]) || q.attributes.length || q.truncated !== undefined)} testId="filters-users">
        <CommitInput value={q.userId ?? ""} placeholder="User id (from identify)" testId="filter-user" onCommit={(v) => set({ userId: v.trim() || undefined })} />
        <CommitInput value={q.customEvent ?? ""} placeholder="Custom event name" testId="filter-event" onCommit={(v) => set({ customEvent: v.trim() || undefined })} />
        {ELEMENT_FILTERS.map((f) => (
          <CommitInput key={f.field} value={q[f.field] ?? ""} placeholder={`${f.label} (selector path)`} testId={f.testId} onCommit={(v) => set({ [f.field]: v.trim() || undefined })} />
        ))}
        {q.attributes.map((a, i) => (
          <span key={`${a.key}=${a.value}`} className="chip">
            {a.key} = {a.value}
            <button className="chip-x" aria-label="Remove attribute filter" onClick={() => set({ attributes: q.attributes.filter((_, j) => j !== i) })}>
              ×
            </button>
          </span>
        ))}
        <form
          className="row gap-small"
          onSubmit={(e) => {
            e.preventDefault();
            if (!attrKey.trim()) return;
            set({ attributes: [...q.attributes, { key: attrKey.trim(), value: attrVal }] });
            setAttrKey("");
            setAttrVal("");
          }}
        >
          <input value={attrKey} onChange={(e) => setAttrKey(e.target.value)} placeholder="attribute" className="input-short" data-testid="filter-attr-key" />
          <input value={attrVal} onChange={(e) => setAttrVal(e.target.value)} placeholder="value" className="input-short" data-testid="filter-attr-value" />
          <button className="btn btn-small" type="submit">
            +
          </button>
        </form>
        <TriState label="Cut short (truncated)" value={q.truncated} onChange={(v) => set({ truncated: v })} testId="filter-truncated" />
      </FoldedGroup>
      {/* Phones only: back to the list the filters narrowed. */}
      <button type="button" className="btn btn-primary filters-done" onClick={onDone} data-testid="filters-done">
        {total === undefined ? "Show recordings" : `Show ${plural(total, "recording")}`}
      </button>
    </aside>
  );
}

export function Recordings() {
  const { orgId, siteId, site } = useSitePage();
  const [params, setParams] = useSearchParams();
  const { config } = useApp();
  // The URL is the source of truth, but router updates are transitions;
  // keep a synchronous copy so controls reflect a click at once.
  const urlQuery = useMemo(() => fromSearchParams(params), [params]);
  const [q, setQ] = useState(urlQuery);
  useEffect(() => setQ(urlQuery), [urlQuery]);
  const queryString = toSearchParams(q).toString();
  const pageSize = listPageSize(config?.maxPageSize);
  const chips = activeFilters(q);
  const nActive = chips.length;
  const list = useSessionSearch(siteId, queryString, pageSize, { pollWhileEmpty: nActive === 0 });
  const { items, total, facets } = list;

  const set = useCallback(
    (patch: Partial<RecordingsQuery>) => {
      const next = { ...q, ...patch };
      setQ(next);
      setParams(toSearchParams(next));
    },
    [q, setParams],
  );
  const clear = useCallback(() => {
    setQ(emptyQuery());
    setParams(new URLSearchParams());
  }, [setParams]);

  // Recordings that arrived since the list was read: offered, not pushed in
  // under the user's cursor.
  const qc = useQueryClient();
  const counted = useNewSessions(siteId, queryString, items.length > 0);
  const fresh = counted.data !== undefined && total !== undefined ? counted.data - total : 0;
  const showNew = () => void qc.resetQueries({ queryKey: sessionSearchKey(siteId, queryString, pageSize) });

  // On a phone the filters are folded away behind the toolbar's button.
  const [filtersOpen, setFiltersOpen] = useState(false);
  const filtersButton = useRef<HTMLButtonElement>(null);

  const watched = useMemo(() => watchedSet(siteId), [siteId]);
  const demoSite = !!config?.demoEnabled && isDemoSite(site.data?.site);
  const replayLink = useCallback(
    (id: string) => `/o/${orgId}/sites/${siteId}/recordings/${encodeURIComponent(id)}${queryString ? `?${queryString}` : ""}`,
    [orgId, siteId, queryString],
  );
  const quick = (k: "hasRageClicks" | "hasDeadClicks" | "hasErrors", label: string) => (
    <button className={`pill ${q[k] ? "pill-on" : ""}`} onClick={() => set({ [k]: q[k] ? undefined : true })} data-testid={`quick-${k}`}>
      {label}
    </button>
  );

  return (
    <div className="recordings">
      <Filters
        q={q}
        set={set}
        facets={facets}
        open={filtersOpen}
        total={total}
        onDone={() => {
          setFiltersOpen(false);
          filtersButton.current?.focus();
        }}
      />
      <section className="rec-main">
        <div className="rec-toolbar">
          <div>
            <h1>
              Recordings <span className="muted site-title">{site.data?.site?.name}</span>
            </h1>
            <div className="muted" data-testid="recordings-total">
              {total === undefined ? "…" : countLine(total, "recording", nActive > 0)}
            </div>
          </div>
          <div className="row gap">
            <button
              ref={filtersButton}
              type="button"
              className={`btn btn-small filters-toggle ${filtersOpen ? "btn-on" : ""}`}
              aria-expanded={filtersOpen}
              aria-controls="recording-filters"
              onClick={() => setFiltersOpen((o) => !o)}
              data-testid="filters-toggle"
            >
              Filters{nActive > 0 && ` (${nActive})`}
            </button>
            {quick("hasRageClicks", "Rage clicks")}
            {quick("hasDeadClicks", "Dead clicks")}
            {quick("hasErrors", "Errors")}
            {nActive > 0 && (
              <button className="btn btn-ghost btn-small" onClick={clear} data-testid="clear-filters">
                Clear filters ({nActive})
              </button>
            )}
            <label className="sort">
              <span className="muted small">Sort</span>
              <select value={q.sort} onChange={(e) => set({ sort: e.target.value as RecordingsQuery["sort"] })} data-testid="sort-field">
                {SORTS.map((s) => (
                  <option key={s.key} value={s.key}>
                    {s.label}
                  </option>
                ))}
              </select>
              <button
                className="btn btn-small"
                onClick={() => set({ ascending: !q.ascending })}
                title={q.ascending ? "Ascending" : "Descending"}
                data-testid="sort-order"
              >
                {q.ascending ? "↑" : "↓"}
              </button>
            </label>
          </div>
        </div>
        <ActiveFilterChips chips={chips} set={set} />
        {list.query.data && items.length === 0 && nActive === 0 && <DemoCard orgId={orgId} siteId={siteId} />}
        {fresh > 0 && (
          <button className="btn btn-small new-sessions" onClick={showNew} data-testid="new-recordings">
            {plural(fresh, "new recording")} — show
          </button>
        )}
        {!list.query.data ? (
          <QueryStatus query={list.query} label="Loading recordings…" />
        ) : items.length === 0 ? (
          nActive > 0 ? (
            <EmptyState title="No recordings match these filters" testId="recordings-empty" icon="⌕" action={<button className="btn" onClick={clear}>Clear filters</button>}>
              Try a longer date range or remove a filter.
            </EmptyState>
          ) : demoSite ? (
            // The card above says what to do: the demo shop has its snippet already.
            <EmptyState title="No recordings yet" testId="recordings-empty" icon="▶">
              Your visit to the demo shop appears here about a minute after you open it.
            </EmptyState>
          ) : (
            <EmptyState
              title="No recordings yet"
              testId="recordings-empty"
              icon="▶"
              action={
                <Link className="btn btn-primary" to={`/o/${orgId}/sites/${siteId}/setup`}>
                  Install the snippet
                </Link>
              }
            >
              Recordings appear here about a minute after someone visits a page with the Sightline snippet. Install it, then open your site in
              another tab to see your own visit.
            </EmptyState>
          )
        ) : (
          <>
            {list.query.isFetchNextPageError && <ErrorBox error={list.query.error} onRetry={() => void list.query.fetchNextPage()} />}
            <RecordingsTable
              items={items}
              total={total ?? items.length}
              link={replayLink}
              watched={watched}
              hasMore={list.query.hasNextPage}
              loadingMore={list.query.isFetchingNextPage}
              loadMore={() => void list.query.fetchNextPage()}
            />
          </>
        )}
      </section>
    </div>
  );
}
