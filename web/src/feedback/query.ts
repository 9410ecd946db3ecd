// The responses page's state: one object that lives in the URL's query string
// (shareable, the back button walks it) and maps onto AnswerFilter for
// answers:search and answers:stats, and onto the CSV export's parameters.
import type { Schemas } from "../api/client";
import { DEVICE_TYPES, RANGES, rangeTimes, readRange, writeRange, type RangePreset, type UrlCondition } from "../lib/filters";
import { MAX_RULE, RULES } from "../heatmap/query";

export type AnswerFilter = Schemas["v1AnswerFilter"];
export type NpsGroup = "detractor" | "passive" | "promoter";
export type KindKey = "feedback" | "survey";

export const NPS_GROUPS: { key: NpsGroup; value: Schemas["v1NpsGroup"]; label: string; range: string }[] = [
  { key: "detractor", value: "NPS_GROUP_DETRACTOR", label: "Detractors", range: "0–6" },
  { key: "passive", value: "NPS_GROUP_PASSIVE", label: "Passives", range: "7–8" },
  { key: "promoter", value: "NPS_GROUP_PROMOTER", label: "Promoters", range: "9–10" },
];

export const KINDS: { key: KindKey; value: Schemas["v1AnswerKind"]; label: string }[] = [
  { key: "feedback", value: "ANSWER_KIND_FEEDBACK", label: "Feedback widget" },
  { key: "survey", value: "ANSWER_KIND_SURVEY", label: "Surveys" },
];

/** The device classes answers are filtered by (bots do not answer surveys). */
export const ANSWER_DEVICES = DEVICE_TYPES.filter((d) => d.key === "desktop" || d.key === "mobile" || d.key === "tablet");

export interface ResponsesQuery {
  range: RangePreset;
  /** Inclusive local dates (YYYY-MM-DD) of a custom range. */
  from?: string;
  to?: string;
  kind?: KindKey;
  surveys: string[];
  /** Rating 1–5, inclusive bounds. */
  ratingMin?: number;
  ratingMax?: number;
  nps: NpsGroup[];
  page?: UrlCondition;
  devices: string[];
  hasText?: boolean;
}

export function emptyResponsesQuery(): ResponsesQuery {
  return { range: "30d", surveys: [], nps: [], devices: [] };
}

const ID_RE = /^[1-9]\d{0,18}$/;
/** A filter names at most this many surveys (the server caps lists too). */
export const MAX_SURVEYS = 20;

function rating(p: URLSearchParams, key: string): number | undefined {
  const raw = p.get(key);
  if (!raw || !/^[1-5]$/.test(raw)) return undefined;
  return Number(raw);
}

/** fromParams reads the state from the URL, ignoring what it cannot understand. */
export function fromParams(p: URLSearchParams): ResponsesQuery {
  const q = emptyResponsesQuery();
  readRange(p, RANGES, q);
  const kind = p.get("kind");
  if (KINDS.some((k) => k.key === kind)) q.kind = kind as KindKey;
  q.surveys = [...new Set(p.getAll("survey").filter((s) => ID_RE.test(s)))].slice(0, MAX_SURVEYS);
  q.ratingMin = rating(p, "rating_min");
  q.ratingMax = rating(p, "rating_max");
  const nps = new Set(p.getAll("nps"));
  q.nps = NPS_GROUPS.filter((g) => nps.has(g.key)).map((g) => g.key);
  const value = p.get("page")?.trim();
  const op = p.get("page_op") ?? "equals";
  if (value && value.length <= MAX_RULE && RULES.some((r) => r.op === op)) q.page = { op: op as UrlCondition["op"], value };
  const devices = new Set(p.getAll("device"));
  q.devices = ANSWER_DEVICES.filter((d) => devices.has(d.key)).map((d) => d.key);
  const text = p.get("has_text");
  if (text === "1" || text === "true") q.hasText = true;
  else if (text === "0" || text === "false") q.hasText = false;
  return q;
}

/** toParams writes the state to the URL, leaving defaults out. */
export function toParams(q: ResponsesQuery): URLSearchParams {
  const p = new URLSearchParams();
  writeRange(p, q, emptyResponsesQuery().range);
  writeCommon(p, q);
  return p;
}

// The parameters the URL and the CSV export share (same names on purpose).
function writeCommon(p: URLSearchParams, q: ResponsesQuery) {
  if (q.kind) p.set("kind", q.kind);
  for (const s of q.surveys) p.append("survey", s);
  if (q.ratingMin !== undefined) p.set("rating_min", String(q.ratingMin));
  if (q.ratingMax !== undefined) p.set("rating_max", String(q.ratingMax));
  for (const g of q.nps) p.append("nps", g);
  if (q.page?.value) {
    p.set("page_op", q.page.op);
    p.set("page", q.page.value);
  }
  for (const d of q.devices) p.append("device", d);
  if (q.hasText !== undefined) p.set("has_text", q.hasText ? "1" : "0");
}

/** activeCount counts the conditions a user set, for the "Clear (n)" button. */
export function activeCount(q: ResponsesQuery): number {
  let n = q.range !== "30d" ? 1 : 0;
  for (const v of [q.kind, q.ratingMin, q.ratingMax, q.page, q.hasText]) if (v !== undefined) n++;
  return n + q.surveys.length + q.nps.length + q.devices.length;
}

const OPERATORS: Record<UrlCondition["op"], Schemas["UrlMatchOperator"]> = {
  equals: "OPERATOR_EQUALS",
  prefix: "OPERATOR_PREFIX",
  contains: "OPERATOR_CONTAINS",
  pattern: "OPERATOR_PATTERN",
};

/** toFilter maps the state onto AnswerFilter; relative ranges end at `now`. */
export function toFilter(q: ResponsesQuery, now: Date): AnswerFilter {
  const f: AnswerFilter = {};
  const t = rangeTimes(q, now);
  if (t && (t.start || t.end)) f.time = t;
  if (q.kind) f.kind = KINDS.find((k) => k.key === q.kind)!.value;
  if (q.surveys.length) f.surveyIds = [...q.surveys];
  if (q.ratingMin !== undefined || q.ratingMax !== undefined) {
    // int64 travels as a string; IntRange bounds are inclusive.
    f.rating = {};
    if (q.ratingMin !== undefined) f.rating.min = String(q.ratingMin);
    if (q.ratingMax !== undefined) f.rating.max = String(q.ratingMax);
  }
  if (q.nps.length) f.npsGroups = q.nps.map((k) => NPS_GROUPS.find((g) => g.key === k)!.value);
  if (q.page?.value) f.page = { operator: OPERATORS[q.page.op], value: q.page.value };
  if (q.devices.length) f.deviceTypes = q.devices.map((k) => ANSWER_DEVICES.find((d) => d.key === k)!.value);
  if (q.hasText !== undefined) f.hasText = q.hasText;
  return f;
}

/**
 * csvParams answers the export's query string for the same filter: from/to
 * as RFC 3339 times, the rest under the URL's own names.
 */
export function csvParams(q: ResponsesQuery, now: Date): URLSearchParams {
  const p = new URLSearchParams();
  const t = rangeTimes(q, now);
  if (t?.start) p.set("from", t.start);
  if (t?.end) p.set("to", t.end);
  writeCommon(p, q);
  return p;
}

/** statsInterval picks the series' bucket so a chart has a readable number of bars. */
export function statsInterval(q: ResponsesQuery, now: Date): Schemas["v1StatsInterval"] {
  const t = rangeTimes(q, now);
  const start = t?.start ? Date.parse(t.start) : NaN;
  const end = t?.end ? Date.parse(t.end) : now.getTime();
  const days = Number.isFinite(start) ? (end - start) / 86_400_000 : Infinity;
  if (days <= 45) return "STATS_INTERVAL_DAY";
  if (days <= 200) return "STATS_INTERVAL_WEEK";
  return "STATS_INTERVAL_MONTH";
}

/** npsGroupOf names the group of a 0–10 score. */
export function npsGroupOf(score: number): NpsGroup {
  return score <= 6 ? "detractor" : score <= 8 ? "passive" : "promoter";
}
