import type { Schemas } from "../api/client";

/** Limits are accounts' Plan message; 0 or absent means unlimited; name is an optional operator label. */
export type Limits = Schemas["v1Plan"];

/** RETENTION_CEILING is the longest retention when none is set (accounts' hard ceiling). */
export const RETENTION_CEILING = 3650;

// int64 fields arrive as strings in protojson.
function n(v: string | number | undefined): number {
  const x = Number(v ?? 0);
  return Number.isFinite(x) && x > 0 ? x : 0;
}

/** hasLimits: whether any limit is set (a self-hosted instance usually has none). */
export function hasLimits(p: Limits | undefined): boolean {
  return !!p && (n(p.sessionsPerDay) > 0 || n(p.maxRetentionDays) > 0 || n(p.maxSeats) > 0 || n(p.maxSites) > 0);
}

/** retentionCeiling: the longest retention a site may set under p. */
export function retentionCeiling(p: Limits | undefined): number {
  return n(p?.maxRetentionDays) || RETENTION_CEILING;
}

/**
 * limitsSummary says what an operator's limits allow, for sign-up: null when
 * none is set, so a self-hosted instance says nothing about limits. "Plan"
 * appears only as the operator's own label.
 */
export function limitsSummary(p: Limits | undefined): string | null {
  if (!p || !hasLimits(p)) return null;
  const parts: string[] = [];
  if (n(p.sessionsPerDay)) parts.push(`${n(p.sessionsPerDay).toLocaleString("en")} recorded sessions a day per site`);
  if (n(p.maxRetentionDays)) parts.push(`recordings kept up to ${n(p.maxRetentionDays)} days`);
  if (n(p.maxSites)) parts.push(`${n(p.maxSites)} ${n(p.maxSites) === 1 ? "site" : "sites"}`);
  if (n(p.maxSeats)) parts.push(`${n(p.maxSeats)} ${n(p.maxSeats) === 1 ? "member" : "members"} per organisation`);
  const name = p.name?.trim();
  return `${name ? `${name}: up to` : "This instance allows up to"} ${parts.join(", ")}.`;
}

/** retentionNote explains the retention ceiling in site settings, or null when there is none. */
export function retentionNote(p: Limits | undefined, custom: boolean | undefined): string | null {
  const max = n(p?.maxRetentionDays);
  if (!max) return null;
  return custom ? `up to ${max} days: a limit set by the operator` : `this instance allows up to ${max} days`;
}

/** limitText shows one limit in a table: "unlimited" for 0. */
export function limitText(v: string | number | undefined): string {
  return n(v) ? n(v).toLocaleString("en") : "unlimited";
}

/** LimitsDraft is the edit form's state: the text of each input. */
export type LimitsDraft = { name: string; sessionsPerDay: string; maxRetentionDays: string; maxSeats: string; maxSites: string };

/** draftOf turns limits into form text (empty for unlimited). */
export function draftOf(p: Limits | undefined): LimitsDraft {
  const s = (v: string | number | undefined) => (n(v) ? String(n(v)) : "");
  return { name: p?.name ?? "", sessionsPerDay: s(p?.sessionsPerDay), maxRetentionDays: s(p?.maxRetentionDays), maxSeats: s(p?.maxSeats), maxSites: s(p?.maxSites) };
}

/**
 * limitsOf parses the form: empty means unlimited (0); anything but a whole
 * number ≥ 0 is an error naming the field, so nothing half-typed is sent.
 */
export function limitsOf(d: LimitsDraft): { limits: Limits } | { error: string } {
  const fields: [keyof LimitsDraft, string, number][] = [
    ["sessionsPerDay", "Sessions a day per site", 1_000_000_000],
    ["maxRetentionDays", "Longest retention", RETENTION_CEILING],
    ["maxSeats", "Members per organisation", 1 << 20],
    ["maxSites", "Sites per organisation", 1 << 20],
  ];
  const out: Record<string, number> = {};
  for (const [k, label, max] of fields) {
    const t = d[k].trim();
    if (t === "") {
      out[k] = 0;
      continue;
    }
    if (!/^\d+$/.test(t) || Number(t) > max) return { error: `${label}: a whole number from 0 to ${max.toLocaleString("en")}, or empty for unlimited` };
    out[k] = Number(t);
  }
  const name = d.name.trim();
  if (name.length > 64) return { error: "Label: at most 64 characters" };
  return {
    limits: { name, sessionsPerDay: String(out.sessionsPerDay), maxRetentionDays: out.maxRetentionDays, maxSeats: out.maxSeats, maxSites: out.maxSites },
  };
}
