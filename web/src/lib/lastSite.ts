// The site a user worked on last, kept in this browser: "/" reopens it, and
// an organisation's own pages (team, API keys, sites) keep it in the site
// switcher and the site links, across reloads. Per organisation, so
// switching organisation and back finds the site again.

import type { KV } from "./watched";

const LAST = "sightline.lastSite";
const inOrg = (orgId: string) => `sightline.lastSite.${orgId}`;

function storage(): KV | undefined {
  try {
    return typeof localStorage === "undefined" ? undefined : localStorage;
  } catch {
    return undefined;
  }
}

/** rememberSite records a site as the last opened, overall and in its organisation. */
export function rememberSite(orgId: string, siteId: string, kv: KV | undefined = storage()): void {
  if (!kv || !orgId || !siteId) return;
  try {
    kv.setItem(LAST, JSON.stringify({ orgId, siteId }));
    kv.setItem(inOrg(orgId), siteId);
  } catch {
    /* quota or private mode: the first site will do */
  }
}

/** lastSite is the site opened last in any organisation. */
export function lastSite(kv: KV | undefined = storage()): { orgId: string; siteId: string } | undefined {
  try {
    const v = JSON.parse(kv?.getItem(LAST) ?? "null");
    return typeof v?.orgId === "string" && typeof v?.siteId === "string" ? { orgId: v.orgId, siteId: v.siteId } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * siteToShow picks an organisation's site for its pages without one in the
 * address: the one last opened there if it is still one of its sites
 * (deleted sites and other organisations' ids are not), else the first.
 */
export function siteToShow(orgId: string, siteIds: string[], kv: KV | undefined = storage()): string | undefined {
  let last: string | null | undefined;
  try {
    last = kv?.getItem(inOrg(orgId));
  } catch {
    last = undefined;
  }
  // Before sites were remembered per organisation only the overall last one was.
  const overall = lastSite(kv);
  last ??= overall?.orgId === orgId ? overall.siteId : undefined;
  return last && siteIds.includes(last) ? last : siteIds[0];
}
