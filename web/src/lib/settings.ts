import type { Schemas } from "../api/client";

export type SiteSettings = Schemas["v1SiteSettings"];

const FIELDS: (keyof SiteSettings)[] = [
  "recordingEnabled",
  "sampleRate",
  "maskAllText",
  "maskSelectors",
  "blockSelectors",
  "unmaskSelectors",
  "retentionDays",
  "respectDoNotTrack",
  "requireConsent",
  "captureAssets",
  "recordCanvas",
  "timeZone",
  "coldAfterDays",
];

// Fields whose absence means true (proto3 `optional bool`, unset = on).
const DEFAULT_ON: (keyof SiteSettings)[] = ["captureAssets"];

/** captureAssets reads the asset-capture switch: unset means on. */
export function captureAssets(s: SiteSettings): boolean {
  return s.captureAssets !== false;
}

// protojson leaves out false, 0 and empty lists: treat them as absent.
function norm(v: unknown): string {
  if (v === undefined || v === null || v === false || v === 0 || (Array.isArray(v) && v.length === 0)) return "";
  return JSON.stringify(v);
}

/**
 * updateMask lists the settings fields that differ, in protojson's FieldMask
 * form (comma-separated lowerCamelCase paths), so a save changes only what
 * the user edited.
 */
export function updateMask(before: SiteSettings, after: SiteSettings): string {
  const val = (s: SiteSettings, f: keyof SiteSettings) => (DEFAULT_ON.includes(f) ? String(s[f] !== false) : norm(s[f]));
  return FIELDS.filter((f) => val(before, f) !== val(after, f)).join(",");
}

/** selectorLines reads one CSS selector a line, dropping blanks. */
export function selectorLines(text: string): string[] {
  return text
    .split("\n")
    .map((x) => x.trim())
    .filter(Boolean);
}

/** timeZones lists the browser's IANA zones (UTC first), plus the current one if the browser does not know it. */
export function timeZones(current?: string, supported: () => string[] = () => (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.("timeZone") ?? []): string[] {
  const list = supported().filter((z) => z !== "UTC");
  if (current && current !== "UTC" && !list.includes(current)) list.push(current);
  return ["UTC", ...list.sort()];
}
