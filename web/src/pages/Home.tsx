import { useEffect } from "react";
import { Navigate, useParams } from "react-router";
import { useApp, useSite, useSites } from "../app/AppContext";
import { EmptyState, QueryStatus } from "../components/ui";

const LAST_SITE = "sightline.lastSite";

/** rememberSite lets "/" reopen the site a user worked on last. */
export function rememberSite(orgId: string, siteId: string) {
  try {
    localStorage.setItem(LAST_SITE, JSON.stringify({ orgId, siteId }));
  } catch {
    /* private mode */
  }
}

/**
 * useSitePage is how a site's page starts: its route's organisation and
 * site, the site (for its name), and the site remembered as the last opened.
 */
export function useSitePage() {
  const { orgId = "", siteId = "" } = useParams();
  const site = useSite(siteId);
  useEffect(() => rememberSite(orgId, siteId), [orgId, siteId]);
  return { orgId, siteId, site };
}

function lastSite(): { orgId: string; siteId: string } | undefined {
  try {
    return JSON.parse(localStorage.getItem(LAST_SITE) ?? "null") ?? undefined;
  } catch {
    return undefined;
  }
}

/** Home sends a user where they most likely want to be. */
export function Home() {
  const { me } = useApp();
  const { orgId: param } = useParams();
  const memberships = me?.memberships ?? [];
  const last = lastSite();
  const orgId =
    param ?? (last && memberships.some((m) => m.organizationId === last.orgId) ? last.orgId : memberships[0]?.organizationId);
  const sites = useSites(orgId);
  if (!orgId) {
    return (
      <EmptyState title="You're not in an organisation yet" icon="⌂">
        Ask a teammate for an invitation, or create an organisation with the switcher above.
      </EmptyState>
    );
  }
  if (!sites.data) return <QueryStatus query={sites} />;
  const list = sites.data.sites ?? [];
  if (list.length === 0) return <Navigate to={`/o/${orgId}/sites?welcome=1`} replace />;
  const pick = list.find((s) => s.id === last?.siteId) ?? list[0]!;
  return <Navigate to={`/o/${orgId}/sites/${pick.id}/recordings`} replace />;
}
