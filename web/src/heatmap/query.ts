// The heatmap page's state: one object that lives in the URL's query string
// (shareable, the back button walks it) and maps onto GetHeatmap's query and
// onto the recordings list's filter for "who clicked this".
import type { Schemas } from "../api/client";
import type { operations } from "../api/schema";
import { rangeNote } from "../lib/rangeNote";
import { emptyQuery, RANGES, rangeTimes, readRange, toSearchParams, writeRange, type RangePreset, type RecordingsQuery, type UrlCondition } from "../lib/filters";
import { keySpelling } from "./url";

export type MapKind = "click" | "rage" | "dead" | "move" | "scroll";
export type Device = "desktop" | "tablet" | "mobile" | "all";
export type HeatmapKind = Schemas["v1HeatmapKind"];

export const MAP_KINDS: { key: MapKind; kind: HeatmapKind; label: string }[] = [
  { key: "click", kind: "HEATMAP_KIND_CLICK", label: "Clicks" },
  { key: "rage", kind: "HEATMAP_KIND_RAGE", label: "Rage clicks" },
  { key: "dead", kind: "HEATMAP_KIND_DEAD", label: "Dead clicks" },
  { key: "move", kind: "HEATMAP_KIND_MOVE", label: "Moves" },
  { key: "scroll", kind: "HEATMAP_KIND_SCROLL", label: "Scroll" },
];

export const DEVICES: { key: Device; value: Schemas["v1DeviceType"] | undefined; label: string }[] = [
  { key: "desktop", value: "DEVICE_TYPE_DESKTOP", label: "Desktop" },
  { key: "tablet", value: "DEVICE_TYPE_TABLET", label: "Tablet" },
  { key: "mobile", value: "DEVICE_TYPE_MOBILE", label: "Mobile" },
  { key: "all", value: undefined, label: "All devices" },
];

/**
 * deviceSessions answers the sessions of each device-switch choice in a GetHeatmap answer (every class's
 * whichever was asked; "all" their sum), or nothing before an answer or from a server that does not send them.
 */
export function deviceSessions(answer: Schemas["v1GetHeatmapResponse"] | undefined): Partial<Record<Device, number>> {
  const counts = answer?.deviceSessions;
  if (!counts?.length) return {};
  const out: Partial<Record<Device, number>> = {};
  let all = 0;
  for (const c of counts) {
    const d = DEVICES.find((x) => x.value !== undefined && x.value === c.deviceType);
    const n = Number(c.sessions ?? 0);
    if (!d || !Number.isFinite(n)) continue;
    out[d.key] = n;
    all += n;
  }
  return { ...out, all };
}

export const RULES: { op: UrlCondition["op"]; label: string }[] = [
  { op: "equals", label: "Exact URL" },
  { op: "prefix", label: "Starts with" },
  { op: "contains", label: "Contains" },
  { op: "pattern", label: "Pattern" },
];

/** GetHeatmap reads at most 400 days, so "all time" is not offered. */
export const HEATMAP_RANGES = RANGES.filter((r): r is (typeof RANGES)[number] & { key: Exclude<RangePreset, "all"> } => r.key !== "all");

/** The longest page rule sent; the server refuses longer ones anyway. */
export const MAX_RULE = 2048;

/** The most days GetHeatmap reads at once (svc-recordings maxHeatDays). */
export const MAX_HEAT_DAYS = 400;

export interface HeatmapQuery {
  page?: UrlCondition;
  device: Device;
  map: MapKind;
  range: Exclude<RangePreset, "all">;
  from?: string;
  to?: string;
  /** snap is a recording the user chose to draw over (a session id), instead of the newest snapshot. */
  snap?: string;
}

/** A session id as the server takes one (wireid). */
const SESSION_ID = /^[A-Za-z0-9_-]{8,64}$/;

export function defaultQuery(): HeatmapQuery {
  return { device: "desktop", map: "click", range: "30d" };
}

/** fromParams reads the state from the URL, ignoring what it cannot understand. */
export function fromParams(p: URLSearchParams): HeatmapQuery {
  const q = defaultQuery();
  const value = p.get("page")?.trim();
  const op = p.get("rule") ?? "equals";
  if (value && value.length <= MAX_RULE && RULES.some((r) => r.op === op)) q.page = { op: op as UrlCondition["op"], value };
  const device = p.get("device");
  if (DEVICES.some((d) => d.key === device)) q.device = device as Device;
  const map = p.get("map");
  if (MAP_KINDS.some((m) => m.key === map)) q.map = map as MapKind;
  readRange(p, HEATMAP_RANGES, q);
  const snap = p.get("snap");
  if (snap && SESSION_ID.test(snap)) q.snap = snap;
  return q;
}

/** toParams writes the state to the URL, leaving defaults out. */
export function toParams(q: HeatmapQuery): URLSearchParams {
  const p = new URLSearchParams();
  const d = defaultQuery();
  if (q.page?.value) {
    p.set("page", q.page.value);
    if (q.page.op !== "equals") p.set("rule", q.page.op);
  }
  if (q.device !== d.device) p.set("device", q.device);
  if (q.map !== d.map) p.set("map", q.map);
  writeRange(p, q, d.range);
  if (q.snap) p.set("snap", q.snap);
  return p;
}

const OPERATORS: Record<UrlCondition["op"], Schemas["UrlMatchOperator"]> = {
  equals: "OPERATOR_EQUALS",
  prefix: "OPERATOR_PREFIX",
  contains: "OPERATOR_CONTAINS",
  pattern: "OPERATOR_PATTERN",
};

export type GetHeatmapQuery = NonNullable<operations["RecordingsService_GetHeatmap"]["parameters"]["query"]>;

/** toRequest answers GetHeatmap's query parameters, or undefined without a page or with a range longer than the server reads (rangeNote says so). */
export function toRequest(q: HeatmapQuery, now: Date, maxCells?: number): GetHeatmapQuery | undefined {
  if (!q.page?.value || rangeNote(q, now, MAX_HEAT_DAYS)?.blocking) return undefined;
  const r: GetHeatmapQuery = {
    "page.operator": OPERATORS[q.page.op],
    "page.value": q.page.value,
    kind: MAP_KINDS.find((m) => m.key === q.map)!.kind,
  };
  const device = DEVICES.find((d) => d.key === q.device)?.value;
  if (device) r.deviceType = device;
  const t = rangeTimes(q, now);
  if (t?.start) r.startTime = t.start;
  if (t?.end) r.endTime = t.end;
  if (maxCells) r.maxCells = maxCells;
  return r;
}

/**
 * pageSessions answers the recordings list's query for the sessions a map
 * is made of: they visited a page matching the rule (same operator and
 * value, spelled as recorded URLs are: the sessions search does not decode
 * "café"), on the map's device class and dates.
 */
export function pageSessions(q: HeatmapQuery): RecordingsQuery {
  const rq = emptyQuery();
  rq.range = q.range;
  rq.from = q.from;
  rq.to = q.to;
  if (q.page) rq.visitedPage = { op: q.page.op, value: keySpelling(q.page.value) };
  const device = DEVICES.find((d) => d.key === q.device)?.value;
  if (device) rq.devices = [device];
  return rq;
}

/**
 * recordingsSearch answers the recordings list's query string for the
 * sessions behind a spot of the map: pageSessions that clicked the
 * element; on the rage and dead maps, rage-clicked (or dead-clicked) it.
 */
export function recordingsSearch(q: HeatmapQuery, selector: string): string {
  const rq = pageSessions(q);
  if (q.map === "rage") rq.rageClickedElement = selector;
  else if (q.map === "dead") rq.deadClickedElement = selector;
  else rq.clickedElement = selector;
  return toSearchParams(rq).toString();
}

export type SnapshotQuery = NonNullable<operations["RecordingsService_GetHeatmapSnapshot"]["parameters"]["query"]>;

/** snapshotRequest answers GetHeatmapSnapshot's query for the recording the user chose, or undefined without one (or a page). */
export function snapshotRequest(q: HeatmapQuery): SnapshotQuery | undefined {
  if (!q.snap || !q.page?.value) return undefined;
  return { sessionId: q.snap, "page.operator": OPERATORS[q.page.op], "page.value": q.page.value };
}

/** clickLinkText says which recordings an element's link opens, as recordingsSearch filters them. */
export function clickLinkText(map: MapKind): string {
  if (map === "rage") return "the recordings that rage-clicked it";
  if (map === "dead") return "the recordings that dead-clicked it";
  return "the recordings that clicked it";
}

/** frustrationText says an element's rage and dead clicks ("1 rage · 3 dead clicks"), "" when none. */
export function frustrationText(rage: number, dead: number): string {
  const parts = [rage > 0 ? `${rage.toLocaleString()} rage` : "", dead > 0 ? `${dead.toLocaleString()} dead` : ""].filter(Boolean);
  if (!parts.length) return "";
  return `${parts.join(" · ")} ${rage + dead === 1 ? "click" : "clicks"}`;
}
