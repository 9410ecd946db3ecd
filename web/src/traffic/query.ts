// The traffic pages' state and its mappings: the overview's date range,
// interval and traffic filter live in the URL (shareable, reloadable); the
// range is whole days in the site's time zone (SiteSettings.time_zone), so
// "today" starts at the site's midnight wherever the viewer sits; and every
// figure and row links to the recordings list with the same sessions.
import type { Schemas } from "../api/client";
import { DEVICE_TYPES, emptyQuery, readRange, toFilter, toSearchParams, writeRange, type DeviceType, type RecordingsQuery, type UrlCondition } from "../lib/filters";

export type Dimension = Schemas["v1TrafficDimension"];
export type Interval = Schemas["v1TrafficInterval"];
export type TrafficFilter = Schemas["v1TrafficFilter"];
export type Totals = Schemas["v1TrafficTotals"];

export type TrafficRange = "today" | "yesterday" | "7d" | "30d" | "90d" | "custom";

export const TRAFFIC_RANGES: { key: TrafficRange; label: string; days?: number }[] = [
  { key: "today", label: "Today", days: 1 },
  { key: "yesterday", label: "Yesterday" },
  { key: "7d", label: "Last 7 days", days: 7 },
  { key: "30d", label: "Last 30 days", days: 30 },
  { key: "90d", label: "Last 90 days", days: 90 },
  { key: "custom", label: "Custom…" },
];

/** The server answers at most 400 days. */
export const MAX_DAYS = 400;

export const INTERVALS: { key: "hour" | "day" | "week"; value: Interval; label: string }[] = [
  { key: "hour", value: "TRAFFIC_INTERVAL_HOUR", label: "Hours" },
  { key: "day", value: "TRAFFIC_INTERVAL_DAY", label: "Days" },
  { key: "week", value: "TRAFFIC_INTERVAL_WEEK", label: "Weeks" },
];

/** TrafficQuery is what the overview's controls edit; filter values are exact as stored. */
export interface TrafficQuery {
  range: TrafficRange;
  /** Inclusive dates (YYYY-MM-DD, in the site's time zone) of a custom range. */
  from?: string;
  to?: string;
  /** Undefined: chosen from the range by the server. */
  interval?: "hour" | "day" | "week";
  page?: string;
  entry?: string;
  exit?: string;
  referrer?: string;
  /** Sessions without a referrer ("Direct / none"). */
  direct?: boolean;
  utmSource?: string;
  utmMedium?: string;
  utmCampaign?: string;
  country?: string;
  /** DeviceType key as breakdowns spell it ("desktop"). */
  device?: string;
  browser?: string;
  os?: string;
  screen?: string;
}

/** The filter keys of a TrafficQuery, in their URL spelling (shared with the recordings list where it has them). */
const FILTER_PARAMS: [keyof TrafficQuery, string][] = [
  ["page", "page"],
  ["entry", "entry"],
  ["exit", "exit"],
  ["referrer", "ref"],
  ["utmSource", "utm_source"],
  ["utmMedium", "utm_medium"],
  ["utmCampaign", "utm_campaign"],
  ["country", "country"],
  ["device", "device"],
  ["browser", "browser"],
  ["os", "os"],
  ["screen", "screen"],
];

export function emptyTrafficQuery(): TrafficQuery {
  return { range: "7d" };
}

export function fromParams(p: URLSearchParams): TrafficQuery {
  const q = emptyTrafficQuery();
  readRange(p, TRAFFIC_RANGES, q);
  // The overview needs both ends of a custom range.
  if (q.range === "custom" && (!q.from || !q.to)) q.range = "7d";
  const iv = p.get("interval");
  if (iv && INTERVALS.some((i) => i.key === iv)) q.interval = iv as TrafficQuery["interval"];
  for (const [k, name] of FILTER_PARAMS) {
    const v = p.get(name)?.trim();
    if (v) (q as unknown as Record<string, string>)[k] = v.slice(0, 2048);
  }
  if (p.get("direct") === "1") q.direct = true;
  return q;
}

export function toParams(q: TrafficQuery): URLSearchParams {
  const p = new URLSearchParams();
  writeRange(p, q, emptyTrafficQuery().range);
  if (q.interval) p.set("interval", q.interval);
  for (const [k, name] of FILTER_PARAMS) {
    const v = q[k];
    if (typeof v === "string" && v) p.set(name, v);
  }
  if (q.direct) p.set("direct", "1");
  return p;
}

/** activeFilters lists the set filter conditions for the chips above the overview. */
export function activeFilters(q: TrafficQuery): { key: keyof TrafficQuery; label: string; value: string }[] {
  const labels: Partial<Record<keyof TrafficQuery, string>> = {
    page: "Page",
    entry: "Entry page",
    exit: "Exit page",
    referrer: "Referrer",
    utmSource: "UTM source",
    utmMedium: "UTM medium",
    utmCampaign: "UTM campaign",
    country: "Country",
    device: "Device",
    browser: "Browser",
    os: "OS",
    screen: "Screen",
  };
  const out: { key: keyof TrafficQuery; label: string; value: string }[] = [];
  for (const [k] of FILTER_PARAMS) {
    const v = q[k];
    if (typeof v === "string" && v) out.push({ key: k, label: labels[k] ?? k, value: v });
  }
  if (q.direct) out.push({ key: "direct", label: "Referrer", value: "Direct / none" });
  return out;
}

// ---- time zones and ranges ----------------------------------------------------

/** validTimeZone answers tz when the browser knows it, else "UTC" (empty is UTC too). */
export function validTimeZone(tz: string | undefined): string {
  if (!tz) return "UTC";
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return tz;
  } catch {
    return "UTC";
  }
}

const partsCache = new Map<string, Intl.DateTimeFormat>();
function wallParts(t: number, tz: string): { y: number; m: number; d: number; h: number; mi: number; s: number } {
  let f = partsCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    partsCache.set(tz, f);
  }
  const o: Record<string, number> = {};
  for (const p of f.formatToParts(new Date(t))) if (p.type !== "literal") o[p.type] = Number(p.value);
  return { y: o.year!, m: o.month!, d: o.day!, h: o.hour! % 24, mi: o.minute!, s: o.second! };
}

/** tzOffsetMs is the zone's offset from UTC at instant t (wall clock − UTC). */
export function tzOffsetMs(t: number, tz: string): number {
  const w = wallParts(t, tz);
  const asUtc = Date.UTC(w.y, w.m - 1, w.d, w.h, w.mi, w.s);
  return asUtc - Math.floor(t / 1000) * 1000;
}

/** zonedMidnight is the instant a date's day starts in tz (DST-safe: days may have 23 or 25 hours). */
export function zonedMidnight(date: string, tz: string): Date {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  const wall = Date.UTC(y, m - 1, d);
  let t = wall - tzOffsetMs(wall, tz);
  // A second pass settles days whose offset changes between the guess and the answer.
  t = wall - tzOffsetMs(t, tz);
  return new Date(t);
}

/** zonedDate is the date (YYYY-MM-DD) of instant t in tz. */
export function zonedDate(t: Date, tz: string): string {
  const w = wallParts(t.getTime(), tz);
  return `${String(w.y).padStart(4, "0")}-${String(w.m).padStart(2, "0")}-${String(w.d).padStart(2, "0")}`;
}

/** addDays moves a YYYY-MM-DD date by n calendar days. */
export function addDays(date: string, n: number): string {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** rangeDates answers the inclusive first and last day of a range in tz. */
export function rangeDates(q: Pick<TrafficQuery, "range" | "from" | "to">, now: Date, tz: string): { from: string; to: string } {
  const today = zonedDate(now, tz);
  switch (q.range) {
    case "today":
      return { from: today, to: today };
    case "yesterday": {
      const y = addDays(today, -1);
      return { from: y, to: y };
    }
    case "custom": {
      let from = q.from ?? today;
      let to = q.to ?? today;
      if (from > to) [from, to] = [to, from];
      // The server answers at most 400 days: keep the last ones.
      if (addDays(from, MAX_DAYS - 1) < to) from = addDays(to, -(MAX_DAYS - 1));
      return { from, to };
    }
    default: {
      const days = TRAFFIC_RANGES.find((r) => r.key === q.range)?.days ?? 7;
      return { from: addDays(today, -(days - 1)), to: today };
    }
  }
}

/**
 * rangeTimes answers the half-open [start, end) of a range: the site's
 * midnight of its first day to the midnight after its last (a range ending
 * today includes the rest of today, so the previous period the server
 * compares with is the same whole number of days).
 */
export function rangeTimes(q: Pick<TrafficQuery, "range" | "from" | "to">, now: Date, tz: string): { start: string; end: string } {
  const { from, to } = rangeDates(q, now, tz);
  return { start: zonedMidnight(from, tz).toISOString(), end: zonedMidnight(addDays(to, 1), tz).toISOString() };
}

/**
 * toTrafficFilter maps the query's conditions onto TrafficFilter (unset ones
 * left out): the sessions filter's conditions, spelt the same way, plus
 * direct visits and screen sizes, which only traffic has.
 */
export function toTrafficFilter(q: TrafficQuery): TrafficFilter {
  const f: TrafficFilter = toFilter({ ...conditions(q), range: "all" }, new Date(0));
  if (q.direct) f.direct = true;
  if (q.screen) f.screenSize = q.screen;
  return f;
}

/** deviceValue maps a breakdown's device name ("mobile") onto the DeviceType enum. */
export function deviceValue(key: string | undefined): DeviceType | undefined {
  if (!key) return undefined;
  return DEVICE_TYPES.find((d) => d.key === key.toLowerCase() || d.value === key)?.value;
}

// ---- dimensions ----------------------------------------------------------------

export interface DimensionInfo {
  value: Dimension;
  key: string;
  label: string;
  /** One row's name ("Referrer"). */
  one: string;
  /** The TrafficQuery field a row of it filters by. */
  field: keyof TrafficQuery;
}

export const DIMENSIONS: DimensionInfo[] = [
  { value: "TRAFFIC_DIMENSION_PAGE", key: "page", label: "Pages", one: "Page", field: "page" },
  { value: "TRAFFIC_DIMENSION_ENTRY_PAGE", key: "entry", label: "Entry pages", one: "Entry page", field: "entry" },
  { value: "TRAFFIC_DIMENSION_EXIT_PAGE", key: "exit", label: "Exit pages", one: "Exit page", field: "exit" },
  { value: "TRAFFIC_DIMENSION_REFERRER", key: "referrer", label: "Referrers", one: "Referrer", field: "referrer" },
  { value: "TRAFFIC_DIMENSION_UTM_SOURCE", key: "utm_source", label: "UTM sources", one: "UTM source", field: "utmSource" },
  { value: "TRAFFIC_DIMENSION_UTM_MEDIUM", key: "utm_medium", label: "UTM mediums", one: "UTM medium", field: "utmMedium" },
  { value: "TRAFFIC_DIMENSION_UTM_CAMPAIGN", key: "utm_campaign", label: "UTM campaigns", one: "UTM campaign", field: "utmCampaign" },
  { value: "TRAFFIC_DIMENSION_COUNTRY", key: "country", label: "Countries", one: "Country", field: "country" },
  { value: "TRAFFIC_DIMENSION_DEVICE_TYPE", key: "device", label: "Devices", one: "Device", field: "device" },
  { value: "TRAFFIC_DIMENSION_BROWSER", key: "browser", label: "Browsers", one: "Browser", field: "browser" },
  { value: "TRAFFIC_DIMENSION_OS", key: "os", label: "Operating systems", one: "Operating system", field: "os" },
  { value: "TRAFFIC_DIMENSION_SCREEN_SIZE", key: "screen", label: "Screen sizes", one: "Screen size", field: "screen" },
];

/** rowFilter answers the TrafficQuery patch that narrows the overview to a breakdown row. */
export function rowFilter(dim: DimensionInfo, value: string): Partial<TrafficQuery> {
  if (dim.field === "referrer" && value === "") return { direct: true, referrer: undefined };
  if (value === "") return {};
  // Devices come as enum names ("DEVICE_TYPE_MOBILE"); the URL says "mobile".
  if (dim.field === "device") return { device: DEVICE_TYPES.find((d) => d.value === value || d.key === value)?.key ?? value };
  return { [dim.field]: value };
}

// ---- links to the recordings list ----------------------------------------------

/**
 * recordingsQuery maps the overview's range and filter onto the recordings
 * list's query: the same days (the list reads them in the viewer's time zone)
 * and each condition the sessions filter has. Screen size and "direct" have
 * no sessions filter and are dropped: callers say so rather than link.
 */
export function recordingsQuery(q: TrafficQuery, now: Date, tz: string): RecordingsQuery {
  const rq = conditions(q);
  const { from, to } = rangeDates(q, now, tz);
  rq.range = "custom";
  rq.from = from;
  rq.to = to;
  return rq;
}

/** conditions answers the recordings list's query for q's conditions, without dates ("direct" and screen size have none). */
function conditions(q: TrafficQuery): RecordingsQuery {
  const rq = emptyQuery();
  const eq = (value: string): UrlCondition => ({ op: "equals", value });
  if (q.page) rq.visitedPage = eq(q.page);
  if (q.entry) rq.entryPage = eq(q.entry);
  if (q.exit) rq.exitPage = eq(q.exit);
  if (q.referrer && !q.direct) rq.referrerDomain = q.referrer;
  if (q.utmSource) rq.utmSource = q.utmSource;
  if (q.utmMedium) rq.utmMedium = q.utmMedium;
  if (q.utmCampaign) rq.utmCampaign = q.utmCampaign;
  if (q.country) rq.countries = [q.country];
  const dev = deviceValue(q.device);
  if (dev) rq.devices = [dev];
  if (q.browser) rq.browsers = [q.browser];
  if (q.os) rq.oses = [q.os];
  return rq;
}

/** unlinkable says why a query's sessions cannot be listed as recordings, or undefined when they can. */
export function unlinkable(q: TrafficQuery): string | undefined {
  if (q.screen) return "The recordings list has no screen-size filter.";
  if (q.direct) return "The recordings list has no filter for direct visits.";
  return undefined;
}

/** recordingsHref is the recordings list with q's sessions plus extra conditions, or undefined when it cannot say so. */
export function recordingsHref(base: string, q: TrafficQuery, now: Date, tz: string, extra: Partial<RecordingsQuery> = {}): string | undefined {
  if (unlinkable(q)) return undefined;
  const s = toSearchParams({ ...recordingsQuery(q, now, tz), ...extra }).toString();
  return `${base}/recordings${s ? `?${s}` : ""}`;
}

/** rowHref is the recordings list for one breakdown row (undefined for screen sizes and direct visits). */
export function rowHref(base: string, q: TrafficQuery, dim: DimensionInfo, value: string, now: Date, tz: string): string | undefined {
  // Unknown values (no country, no UTM tag) have no sessions filter either.
  if (dim.field === "screen" || value === "") return undefined;
  return recordingsHref(base, { ...q, ...rowFilter(dim, value) }, now, tz);
}

// ---- formatting ------------------------------------------------------------------

export type Sense = "up-good" | "up-bad" | "neutral";

/**
 * delta compares a figure with the previous period: the relative change in
 * percent (rates compare in percentage points), its arrow, and whether it is
 * good news given the figure's sense (bounce rate up is bad).
 */
export function delta(cur: number | undefined, prev: number | undefined, sense: Sense, points = false): { text: string; tone: "good" | "bad" | "flat"; label: string } | undefined {
  if (cur === undefined || prev === undefined || !Number.isFinite(cur) || !Number.isFinite(prev)) return undefined;
  let change: number;
  let text: string;
  if (points) {
    change = (cur - prev) * 100;
    if (Math.abs(change) < 0.05) return { text: "0 pp", tone: "flat", label: "no change from the previous period" };
    text = `${change > 0 ? "↑" : "↓"} ${Math.abs(change).toFixed(1)} pp`;
  } else {
    if (prev === 0) {
      if (cur === 0) return { text: "0%", tone: "flat", label: "no change from the previous period" };
      change = 1;
      text = "↑ new";
    } else {
      change = ((cur - prev) / prev) * 100;
      if (Math.abs(change) < 0.5) return { text: "0%", tone: "flat", label: "no change from the previous period" };
      text = `${change > 0 ? "↑" : "↓"} ${Math.abs(change) >= 10 ? Math.round(Math.abs(change)) : Math.abs(change).toFixed(1)}%`;
    }
  }
  const tone = sense === "neutral" ? "flat" : (change > 0) === (sense === "up-good") ? "good" : "bad";
  return { text, tone, label: `${change > 0 ? "up" : "down"} ${text.replace(/^[↑↓] /, "")} from the previous period` };
}

/** formatRate writes a 0–1 share as a percentage ("12.5%"), "—" when unset. */
export function formatRate(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r)) return "—";
  const pct = r * 100;
  return `${pct === 0 || pct >= 10 || Number.isInteger(pct) ? Math.round(pct) : pct.toFixed(1)}%`;
}

/** formatCount writes a count compactly past 10,000 ("12.3k", "1.2M"). */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return "—";
  if (Math.abs(n) < 10_000) return n.toLocaleString("en-US");
  if (Math.abs(n) < 1_000_000) return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

/** int reads a protojson int64 (a string) as a number; absent is 0. */
export function int(v: string | number | undefined): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}

/** rowLabel shows a breakdown value for people. */
export function rowLabel(dim: Dimension, value: string): string {
  switch (dim) {
    case "TRAFFIC_DIMENSION_REFERRER":
      return value || "Direct / none";
    case "TRAFFIC_DIMENSION_SCREEN_SIZE":
      return value ? value.replace("x", " × ") : "Unknown";
    case "TRAFFIC_DIMENSION_PAGE":
    case "TRAFFIC_DIMENSION_ENTRY_PAGE":
    case "TRAFFIC_DIMENSION_EXIT_PAGE":
      return pagePath(value);
    case "TRAFFIC_DIMENSION_DEVICE_TYPE": {
      const d = DEVICE_TYPES.find((x) => x.value === value || x.key === value);
      return d ? d.label : value || "Unknown";
    }
    case "TRAFFIC_DIMENSION_COUNTRY":
      return value || "Unknown";
    case "TRAFFIC_DIMENSION_UTM_SOURCE":
    case "TRAFFIC_DIMENSION_UTM_MEDIUM":
    case "TRAFFIC_DIMENSION_UTM_CAMPAIGN":
      return value || "(none)";
    default:
      return value || "Unknown";
  }
}

/** pagePath shows a page key ("https://shop.example/pricing") as its path, "/" for the root. */
export function pagePath(key: string): string {
  const m = /^https?:\/\/[^/]+(\/.*)?$/i.exec(key);
  if (!m) return key || "(unknown)";
  return m[1] || "/";
}

/** bucketLabel names a series bucket in the site's time zone. */
export function bucketLabel(iso: string | undefined, interval: Interval | undefined, tz: string, long = false): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (interval === "TRAFFIC_INTERVAL_HOUR") {
    return d.toLocaleString("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit", ...(long ? { weekday: "short", day: "numeric", month: "short" } : {}) });
  }
  const day = d.toLocaleDateString("en-GB", { timeZone: tz, day: "numeric", month: "short", ...(long ? { weekday: "short", year: "numeric" } : {}) });
  return interval === "TRAFFIC_INTERVAL_WEEK" ? `${long ? "Week of " : ""}${day}` : day;
}

/** intervalValue maps the URL's interval onto the API's (undefined: the server picks). */
export function intervalValue(key: TrafficQuery["interval"]): Interval | undefined {
  return INTERVALS.find((i) => i.key === key)?.value;
}

/** defaultInterval mirrors the server's choice: hours up to 2 days, days up to 92, else weeks. */
export function defaultInterval(days: number): "hour" | "day" | "week" {
  if (days <= 2) return "hour";
  if (days <= 92) return "day";
  return "week";
}

/** daysIn counts the days of an inclusive date range. */
export function daysIn(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1;
}
