// The recordings list's filter: one state object that lives in the URL's
// query string (so a filtered list can be shared, reloaded and walked with
// next/previous from the replay) and maps onto SearchSessionsRequest.
import type { Schemas } from "../api/client";
import { countryName, toProtoDuration } from "./format";

export type DeviceType = Schemas["v1DeviceType"];
export type SortField = Schemas["v1SortField"];
export type UrlOperator = Schemas["UrlMatchOperator"];
export type SearchBody = Schemas["SearchServiceSearchSessionsBody"];
export type SessionFilter = Schemas["v1SessionFilter"];

export type RangePreset = "24h" | "7d" | "30d" | "90d" | "all" | "custom";

export interface UrlCondition {
  /** pattern: "*" is any run of characters and the whole URL must match (heatmap page rules). */
  op: "equals" | "contains" | "prefix" | "pattern";
  value: string;
}

/** RecordingsQuery is what the filter bar edits. Durations are in seconds. */
export interface RecordingsQuery {
  range: RangePreset;
  /** Inclusive local dates (YYYY-MM-DD) of a custom range. */
  from?: string;
  to?: string;
  minDuration?: number;
  maxDuration?: number;
  minActive?: number;
  maxActive?: number;
  visitedPage?: UrlCondition;
  entryPage?: UrlCondition;
  exitPage?: UrlCondition;
  minPages?: number;
  maxPages?: number;
  devices: DeviceType[];
  browsers: string[];
  oses: string[];
  countries: string[];
  referrerDomain?: string;
  utmSource?: string;
  utmMedium?: string;
  utmCampaign?: string;
  userId?: string;
  attributes: { key: string; value: string }[];
  customEvent?: string;
  /** Sessions that clicked the element with this selector path (from a heatmap). */
  clickedElement?: string;
  /** Sessions that rage-clicked (dead-clicked) the element with this selector path (from a rage or dead map). */
  rageClickedElement?: string;
  deadClickedElement?: string;
  hasRageClicks?: boolean;
  hasDeadClicks?: boolean;
  hasErrors?: boolean;
  truncated?: boolean;
  /** Sessions with (true) or without (false) feedback-widget answers. */
  hasFeedback?: boolean;
  /** Sessions whose lowest feedback rating is at most this (1–5). */
  feedbackRatingMax?: number;
  sort: "start" | "duration" | "active" | "pages";
  ascending: boolean;
}

export const DEVICE_TYPES: { value: DeviceType; key: string; label: string }[] = [
  { value: "DEVICE_TYPE_DESKTOP", key: "desktop", label: "Desktop" },
  { value: "DEVICE_TYPE_MOBILE", key: "mobile", label: "Mobile" },
  { value: "DEVICE_TYPE_TABLET", key: "tablet", label: "Tablet" },
  { value: "DEVICE_TYPE_BOT", key: "bot", label: "Bot" },
  { value: "DEVICE_TYPE_OTHER", key: "other", label: "Other" },
];

export const SORTS: { key: RecordingsQuery["sort"]; field: SortField; label: string }[] = [
  { key: "start", field: "SORT_FIELD_START_TIME", label: "Date" },
  { key: "duration", field: "SORT_FIELD_DURATION", label: "Duration" },
  { key: "active", field: "SORT_FIELD_ACTIVE_DURATION", label: "Active time" },
  { key: "pages", field: "SORT_FIELD_PAGE_COUNT", label: "Pages" },
];

export const RANGES: { key: RangePreset; label: string; hours?: number }[] = [
  { key: "24h", label: "Last 24 hours", hours: 24 },
  { key: "7d", label: "Last 7 days", hours: 24 * 7 },
  { key: "30d", label: "Last 30 days", hours: 24 * 30 },
  { key: "90d", label: "Last 90 days", hours: 24 * 90 },
  { key: "all", label: "All time" },
  { key: "custom", label: "Custom…" },
];

const URL_OPS: Record<UrlCondition["op"], UrlOperator> = {
  equals: "OPERATOR_EQUALS",
  contains: "OPERATOR_CONTAINS",
  prefix: "OPERATOR_PREFIX",
  pattern: "OPERATOR_PATTERN",
};

/**
 * URL_OP_LABELS names each page condition's operator, in the order the filter's menu lists them:
 * label in the menu (with its hint), words on a chip.
 */
export const URL_OP_LABELS: { op: UrlCondition["op"]; label: string; words: string }[] = [
  { op: "contains", label: "contains", words: "contains" },
  { op: "equals", label: "is", words: "is" },
  { op: "prefix", label: "starts with", words: "starts with" },
  { op: "pattern", label: "matches pattern (*)", words: "matches pattern" },
];

export function emptyQuery(): RecordingsQuery {
  return {
    range: "30d",
    devices: [],
    browsers: [],
    oses: [],
    countries: [],
    attributes: [],
    sort: "start",
    ascending: false,
  };
}

/** toggle answers list with v removed if it is there, else added at the end (a facet or checkbox list). */
export function toggle<T>(list: T[], v: T): T[] {
  return list.includes(v) ? list.filter((x) => x !== v) : [...list, v];
}

/** activeFilterCount counts the conditions a user set, for the "Clear (n)" button: one per chip activeFilters shows. */
export function activeFilterCount(q: RecordingsQuery): number {
  return activeFilters(q).length;
}

// ---- URL query string -------------------------------------------------------

// Each scalar condition's URL key, written once for both directions (read and
// write) so the two cannot drift apart; the order is the order in the link.
type FieldsOf<T> = { [K in keyof RecordingsQuery]-?: [T | undefined] extends [RecordingsQuery[K]] ? K : never }[keyof RecordingsQuery];
// Each also carries what a chip above the list says of it (activeFilters).
const NUM_PARAMS = [
  ["minDuration", "dmin", "Duration ≥", " s"],
  ["maxDuration", "dmax", "Duration ≤", " s"],
  ["minActive", "amin", "Active time ≥", " s"],
  ["maxActive", "amax", "Active time ≤", " s"],
  ["minPages", "pmin", "Pages ≥", ""],
  ["maxPages", "pmax", "Pages ≤", ""],
] as const satisfies readonly (readonly [FieldsOf<number>, string, string, string])[];
const COND_PARAMS = [
  ["visitedPage", "visited", "Visited page"],
  ["entryPage", "entry", "Entry page"],
  ["exitPage", "exit", "Exit page"],
] as const satisfies readonly (readonly [FieldsOf<UrlCondition>, string, string])[];
const STR_PARAMS = [
  ["referrerDomain", "ref", "Referrer"],
  ["utmSource", "utm_source", "utm_source"],
  ["utmMedium", "utm_medium", "utm_medium"],
  ["utmCampaign", "utm_campaign", "utm_campaign"],
  ["userId", "user", "User"],
  ["customEvent", "event", "Event"],
  ["clickedElement", "clicked", "Clicked"],
  ["rageClickedElement", "rage_on", "Rage-clicked"],
  ["deadClickedElement", "dead_on", "Dead-clicked"],
] as const satisfies readonly (readonly [FieldsOf<string>, string, string])[];
// [field, URL key, chip when yes, chip when no]
const BOOL_PARAMS = [
  ["hasRageClicks", "rage", "Rage clicks", "No rage clicks"],
  ["hasDeadClicks", "dead", "Dead clicks", "No dead clicks"],
  ["hasErrors", "errors", "Errors", "No errors"],
  ["truncated", "truncated", "Cut short", "Not cut short"],
  ["hasFeedback", "feedback", "Has feedback", "No feedback"],
] as const satisfies readonly (readonly [FieldsOf<boolean>, string, string, string])[];

function num(params: URLSearchParams, key: string): number | undefined {
  const raw = params.get(key);
  if (raw === null || raw.trim() === "") return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function bool(params: URLSearchParams, key: string): boolean | undefined {
  const raw = params.get(key);
  if (raw === "1" || raw === "true") return true;
  if (raw === "0" || raw === "false") return false;
  return undefined;
}

function str(params: URLSearchParams, key: string): string | undefined {
  const raw = params.get(key)?.trim();
  return raw ? raw : undefined;
}

function urlCond(params: URLSearchParams, key: string): UrlCondition | undefined {
  const raw = params.get(key);
  if (!raw) return undefined;
  const colon = raw.indexOf(":");
  const op = raw.slice(0, colon) as UrlCondition["op"];
  const value = raw.slice(colon + 1);
  if (colon < 0 || !(op in URL_OPS) || !value) return undefined;
  return { op, value };
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * validDate tells whether s is a real calendar date (YYYY-MM-DD, not
 * 2026-02-31) from 1970 on, when recordings begin (a year below 100 would
 * be read as 19xx) and up to 9999.
 */
export function validDate(s: string | null | undefined): s is string {
  if (!s || !DATE_RE.test(s)) return false;
  const [y, m, d] = s.split("-").map(Number) as [number, number, number];
  const t = new Date(Date.UTC(y, m - 1, d));
  return y >= 1970 && t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

/** A date range as every dashboard URL spells it: a preset key, and a custom range's inclusive dates. */
export interface RangeParams<K extends string> {
  range: K;
  from?: string;
  to?: string;
}

/**
 * readRange reads "range" (one of presets) and, for a custom range, its
 * valid "from"/"to" dates into q. A custom range whose dates are all
 * invalid is not read (q keeps its default range), so what the controls
 * show is what is asked for.
 */
export function readRange<K extends string>(params: URLSearchParams, presets: readonly { key: K }[], q: RangeParams<K>): void {
  const range = params.get("range");
  if (!range || !presets.some((r) => r.key === range)) return;
  if (range !== "custom") {
    q.range = range as K;
    return;
  }
  const from = params.get("from");
  const to = params.get("to");
  if ((from || to) && !validDate(from) && !validDate(to)) return;
  q.range = range as K;
  if (validDate(from)) q.from = from;
  if (validDate(to)) q.to = to;
}

/** writeRange writes what readRange reads, leaving the page's default range out. */
export function writeRange<K extends string>(p: URLSearchParams, q: RangeParams<K>, defaultRange: K): void {
  if (q.range !== defaultRange) p.set("range", q.range);
  if (q.range === "custom") {
    if (q.from) p.set("from", q.from);
    if (q.to) p.set("to", q.to);
  }
}

/** fromSearchParams reads a query from the URL, ignoring what it cannot understand. */
export function fromSearchParams(params: URLSearchParams): RecordingsQuery {
  const q = emptyQuery();
  readRange(params, RANGES, q);
  for (const [field, key] of NUM_PARAMS) q[field] = num(params, key);
  for (const [field, key] of COND_PARAMS) q[field] = urlCond(params, key);
  const devices = new Set(params.getAll("device"));
  q.devices = DEVICE_TYPES.filter((d) => devices.has(d.key)).map((d) => d.value);
  q.browsers = params.getAll("browser").filter(Boolean);
  q.oses = params.getAll("os").filter(Boolean);
  q.countries = params.getAll("country").filter(Boolean);
  for (const [field, key] of STR_PARAMS) q[field] = str(params, key);
  q.attributes = params
    .getAll("attr")
    .map((a) => {
      const eq = a.indexOf("=");
      return eq > 0 ? { key: a.slice(0, eq), value: a.slice(eq + 1) } : undefined;
    })
    .filter((a): a is { key: string; value: string } => a !== undefined);
  for (const [field, key] of BOOL_PARAMS) q[field] = bool(params, key);
  const rating = params.get("rating_max");
  if (rating && /^[1-5]$/.test(rating)) q.feedbackRatingMax = Number(rating);
  const sort = params.get("sort");
  if (sort && SORTS.some((s) => s.key === sort)) q.sort = sort as RecordingsQuery["sort"];
  q.ascending = params.get("order") === "asc";
  return q;
}

/** toSearchParams writes a query to the URL, leaving defaults out so links stay short. */
export function toSearchParams(q: RecordingsQuery): URLSearchParams {
  const p = new URLSearchParams();
  const d = emptyQuery();
  writeRange(p, q, d.range);
  for (const [field, key] of NUM_PARAMS) if (q[field] !== undefined) p.set(key, String(q[field]));
  for (const [field, key] of COND_PARAMS) {
    const c = q[field];
    if (c && c.value) p.set(key, `${c.op}:${c.value}`);
  }
  for (const dev of q.devices) {
    const key = DEVICE_TYPES.find((d) => d.value === dev)?.key;
    if (key) p.append("device", key);
  }
  for (const b of q.browsers) p.append("browser", b);
  for (const o of q.oses) p.append("os", o);
  for (const c of q.countries) p.append("country", c);
  for (const [field, key] of STR_PARAMS) if (q[field]) p.set(key, q[field]);
  for (const a of q.attributes) if (a.key) p.append("attr", `${a.key}=${a.value}`);
  for (const [field, key] of BOOL_PARAMS) if (q[field] !== undefined) p.set(key, q[field] ? "1" : "0");
  if (q.feedbackRatingMax !== undefined) p.set("rating_max", String(q.feedbackRatingMax));
  if (q.sort !== d.sort) p.set("sort", q.sort);
  if (q.ascending) p.set("order", "asc");
  return p;
}

// ---- chips --------------------------------------------------------------------

/** ActiveFilter is one condition a user set, as a chip above the list says it. */
export interface ActiveFilter {
  /** Stable among the chips of one query (a React key, a test's handle). */
  id: string;
  /** What is matched: "Visited page contains", "Device". */
  name: string;
  /** The value, shown whole on hover when it is cut short ("" for a yes/no condition). */
  value: string;
  /** The patch that removes this condition alone. */
  clear: Partial<RecordingsQuery>;
}

/**
 * activeFilters lists the conditions q sets beyond the default query, one per
 * facet value and attribute, in the filter panel's order: what a user sees
 * above the list (above all after a heatmap link set some) and removes one
 * by one.
 */
export function activeFilters(q: RecordingsQuery): ActiveFilter[] {
  const d = emptyQuery();
  const out: ActiveFilter[] = [];
  if (q.range !== d.range) {
    let value = RANGES.find((r) => r.key === q.range)?.label ?? q.range;
    if (q.range === "custom") {
      const { from, to } = customDates(q);
      value = from && to ? `${from} to ${to}` : from ? `from ${from}` : to ? `until ${to}` : "any time";
    }
    out.push({ id: "range", name: "Date", value, clear: { range: d.range, from: undefined, to: undefined } });
  }
  for (const [field, , name, opNo] of BOOL_PARAMS) {
    const v = q[field];
    if (v !== undefined) out.push({ id: field, name: v ? name : opNo, value: "", clear: { [field]: undefined } });
  }
  if (q.feedbackRatingMax !== undefined) {
    out.push({ id: "feedbackRatingMax", name: "Rating at most", value: `${q.feedbackRatingMax} of 5`, clear: { feedbackRatingMax: undefined } });
  }
  const lists = [
    ["devices", "Device", deviceLabel],
    ["browsers", "Browser", (v: string) => v],
    ["oses", "OS", (v: string) => v],
    ["countries", "Country", countryName],
  ] as const;
  for (const [field, name, label] of lists) {
    const list: string[] = q[field];
    for (const v of list) out.push({ id: `${field}:${v}`, name, value: label(v), clear: { [field]: list.filter((x) => x !== v) } });
  }
  for (const [field, , name] of COND_PARAMS) {
    const c = q[field];
    const op = URL_OP_LABELS.find((o) => o.op === c?.op)?.words;
    if (c && c.value) out.push({ id: field, name: `${name} ${op}`, value: c.value, clear: { [field]: undefined } });
  }
  for (const [field, , name, unit] of NUM_PARAMS) {
    const v = q[field];
    if (v !== undefined) out.push({ id: field, name, value: `${v}${unit}`, clear: { [field]: undefined } });
  }
  for (const [field, , name] of STR_PARAMS) {
    const v = q[field];
    if (v) out.push({ id: field, name, value: v, clear: { [field]: undefined } });
  }
  // By key and value, not place: removing one leaves the others' ids as they were.
  const seen = new Map<string, number>();
  q.attributes.forEach((a, i) => {
    const pair = `${a.key}=${a.value}`;
    const nth = (seen.get(pair) ?? 0) + 1;
    seen.set(pair, nth);
    const id = nth === 1 ? `attr:${pair}` : `attr:${pair}#${nth}`;
    out.push({ id, name: `${a.key} =`, value: a.value, clear: { attributes: q.attributes.filter((_, j) => j !== i) } });
  });
  return out;
}

// ---- request ----------------------------------------------------------------

function localMidnight(date: string): Date {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  return new Date(y, m - 1, d);
}

/** customDates answers a custom range's dates in order (a From after To is read the other way round) and whether they were swapped. */
export function customDates(q: Pick<RangeParams<string>, "from" | "to">): { from?: string; to?: string; swapped: boolean } {
  if (q.from && q.to && q.from > q.to) return { from: q.to, to: q.from, swapped: true };
  return { from: q.from, to: q.to, swapped: false };
}

/**
 * rangeTimes answers the half-open [start, end) of a date range (ISO times;
 * either may be absent), or undefined for all time. Relative ranges end at
 * `now`; a custom range's "to" day is included, and its dates are put in
 * order (customDates).
 */
export function rangeTimes(q: Pick<RecordingsQuery, "range" | "from" | "to">, now: Date): { start?: string; end?: string } | undefined {
  const preset = RANGES.find((r) => r.key === q.range);
  if (preset?.hours) return { start: new Date(now.getTime() - preset.hours * 3_600_000).toISOString() };
  if (q.range !== "custom" || !(q.from || q.to)) return undefined;
  const { from, to } = customDates(q);
  const t: { start?: string; end?: string } = {};
  if (from) t.start = localMidnight(from).toISOString();
  if (to) {
    const end = localMidnight(to);
    end.setDate(end.getDate() + 1);
    t.end = end.toISOString();
  }
  return t;
}

/** toFilter maps a query onto SessionFilter; relative ranges end at `now`. */
export function toFilter(q: RecordingsQuery, now: Date): SessionFilter {
  const f: SessionFilter = {};
  f.startTime = rangeTimes(q, now);
  const durRange = (min?: number, max?: number) => {
    if (min === undefined && max === undefined) return undefined;
    const r: Schemas["v1DurationRange"] = {};
    if (min !== undefined) r.min = toProtoDuration(min);
    if (max !== undefined) r.max = toProtoDuration(max);
    return r;
  };
  f.duration = durRange(q.minDuration, q.maxDuration);
  f.activeDuration = durRange(q.minActive, q.maxActive);
  if (q.minPages !== undefined || q.maxPages !== undefined) {
    // int64 travels as a string; zero max means unbounded.
    f.pageCount = { min: String(q.minPages ?? 0), max: String(q.maxPages ?? 0) };
  }
  const match = (c?: UrlCondition) => (c && c.value ? { operator: URL_OPS[c.op], value: c.value } : undefined);
  f.visitedPage = match(q.visitedPage);
  f.entryPage = match(q.entryPage);
  f.exitPage = match(q.exitPage);
  if (q.devices.length) f.deviceTypes = [...q.devices];
  if (q.browsers.length) f.browsers = [...q.browsers];
  if (q.oses.length) f.oses = [...q.oses];
  if (q.countries.length) f.countries = [...q.countries];
  // The text and yes/no conditions carry the same names in SessionFilter.
  for (const [field] of STR_PARAMS) if (q[field]) f[field] = q[field];
  if (q.attributes.length) f.userAttributes = q.attributes.filter((a) => a.key).map((a) => ({ key: a.key, value: a.value }));
  for (const [field] of BOOL_PARAMS) if (q[field] !== undefined) f[field] = q[field];
  // {max: N}: the session's lowest rating is at most N (sessions without feedback do not match).
  if (q.feedbackRatingMax !== undefined) f.feedbackRating = { max: String(q.feedbackRatingMax) };
  // Leave unset conditions out of the JSON entirely.
  for (const k of Object.keys(f) as (keyof SessionFilter)[]) if (f[k] === undefined) delete f[k];
  return f;
}

export const LIST_FACETS: Schemas["v1FacetField"][] = [
  "FACET_FIELD_DEVICE_TYPE",
  "FACET_FIELD_BROWSER",
  "FACET_FIELD_OS",
  "FACET_FIELD_COUNTRY",
  "FACET_FIELD_PAGE",
];

/** toSearchBody builds the body of POST /sites/{siteId}/sessions:search. */
export function toSearchBody(
  q: RecordingsQuery,
  opts: { now: Date; pageSize: number; pageToken?: string; facets?: boolean },
): SearchBody {
  const body: SearchBody = {
    filter: toFilter(q, opts.now),
    sort: SORTS.find((s) => s.key === q.sort)?.field ?? "SORT_FIELD_START_TIME",
    ascending: q.ascending,
    pageSize: opts.pageSize,
  };
  if (opts.pageToken) body.pageToken = opts.pageToken;
  // Facets are only needed with the first page.
  if (opts.facets ?? !opts.pageToken) body.facets = [...LIST_FACETS];
  return body;
}

/** deviceLabel names a device type for people. */
export function deviceLabel(d: DeviceType | string | undefined): string {
  return DEVICE_TYPES.find((x) => x.value === d)?.label ?? "Unknown";
}
