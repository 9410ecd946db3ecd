import { Navigate, useParams } from "react-router";
import { useApp, useSite, useSites } from "../app/AppContext";
import { EmptyState, QueryStatus } from "../components/ui";
import { lastSite, siteToShow } from "../lib/lastSite";

/**
 * useSitePage is how a site's page starts: its route's organisation and
 * site, and the site (for its name). Layout remembers the site as the last
 * opened once it is known to be one of the organisation's.
 */
export function useSitePage() {
  const { orgId = "", siteId = "" } = useParams();
  const site = useSite(siteId);
  return { orgId, siteId, site };
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
  const pick = siteToShow(orgId, list.map((s) => s.id ?? ""));
  return <Navigate to={`/o/${orgId}/sites/${pick}/recordings`} replace />;
}
