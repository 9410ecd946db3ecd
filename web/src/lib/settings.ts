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
];

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
  return FIELDS.filter((f) => norm(before[f]) !== norm(after[f])).join(",");
}

/** selectorLines reads one CSS selector a line, dropping blanks. */
export function selectorLines(text: string): string[] {
  return text
    .split("\n")
    .map((x) => x.trim())
    .filter(Boolean);
}
