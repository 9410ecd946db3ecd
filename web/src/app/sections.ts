// The dashboard's sections and pages, as one table: the layout's navigation
// and the app's routes are both read from it, so a new page is one entry
// here (plus its component in App's page map).

/** Where a page lives: under a site, an organisation, or the whole instance. */
export type Scope = "site" | "org" | "instance";

export interface NavPage {
  /** Key into App's page map; absent for pages this build does not have. */
  page?: PageKey;
  label: string;
  scope: Scope;
  /** Route pattern relative to "/", with :orgId and :siteId as needed. */
  path: string;
  /** Also marks the entry current on the routes below it (a replay under Recordings). */
  prefix?: boolean;
  /** Why it is not shown yet; a planned page gets no link and no route. */
  planned?: string;
}

export interface NavSection {
  id: string;
  label: string;
  /** Only the instance's operators (the `operator` flag of /api/v1/me) see it. */
  operatorOnly?: boolean;
  pages: NavPage[];
}

export type PageKey =
  | "overview"
  | "realtime"
  | "funnels"
  | "recordings"
  | "heatmaps"
  | "feedback"
  | "surveys"
  | "feedbackWidget"
  | "siteSetup"
  | "notifications"
  | "webhooks"
  | "sites"
  | "team"
  | "apiKeys"
  | "operator"
  | "outbox";

export const SECTIONS: NavSection[] = [
  {
    id: "trends",
    label: "Trends & funnels",
    pages: [
      { page: "overview", label: "Overview", scope: "site", path: "o/:orgId/sites/:siteId/overview" },
      { page: "realtime", label: "Realtime", scope: "site", path: "o/:orgId/sites/:siteId/realtime" },
      { page: "funnels", label: "Funnels", scope: "site", path: "o/:orgId/sites/:siteId/funnels" },
    ],
  },
  {
    id: "recordings",
    label: "Recordings",
    pages: [{ page: "recordings", label: "Recordings", scope: "site", path: "o/:orgId/sites/:siteId/recordings", prefix: true }],
  },
  {
    id: "heatmaps",
    label: "Heatmaps",
    pages: [
      { page: "heatmaps", label: "Heatmaps", scope: "site", path: "o/:orgId/sites/:siteId/heatmaps" },
    ],
  },
  {
    id: "feedback",
    label: "Feedback & surveys",
    pages: [
      { page: "feedback", label: "Responses", scope: "site", path: "o/:orgId/sites/:siteId/feedback" },
      // The builder (surveys/:surveyId) is routed by App under this entry.
      { page: "surveys", label: "Surveys", scope: "site", path: "o/:orgId/sites/:siteId/surveys", prefix: true },
    ],
  },
  {
    id: "settings",
    label: "Settings",
    pages: [
      // Site settings and the install snippet are one page today.
      { page: "siteSetup", label: "Site & install", scope: "site", path: "o/:orgId/sites/:siteId/setup" },
      { page: "feedbackWidget", label: "Feedback widget", scope: "site", path: "o/:orgId/sites/:siteId/feedback-widget" },
      // The paths notify's e-mails link to (/sites/{site}/settings/…, under /o/{org}/ here).
      { page: "notifications", label: "Notifications", scope: "site", path: "o/:orgId/sites/:siteId/settings/notifications" },
      { page: "webhooks", label: "Webhooks", scope: "site", path: "o/:orgId/sites/:siteId/settings/webhooks" },
    ],
  },
  {
    id: "organisation",
    label: "Organisation",
    pages: [
      { page: "sites", label: "Sites", scope: "org", path: "o/:orgId/sites" },
      { page: "team", label: "Team", scope: "org", path: "o/:orgId/team" },
      { page: "apiKeys", label: "API keys", scope: "org", path: "o/:orgId/api-keys" },
    ],
  },
  {
    id: "operator",
    label: "Operator",
    operatorOnly: true,
    pages: [
      // Ingest's GetStats: spool, forwarder, dead letters and limit hits.
      { page: "operator", label: "Ingest & limits", scope: "instance", path: "operator" },
      // E-mails written to <data-dir>/outbox while no SMTP server is configured.
      { page: "outbox", label: "E-mail outbox", scope: "instance", path: "admin/outbox" },
    ],
  },
];

/** The pages this build has, each with its route pattern: what App routes. */
export function routedPages(sections: NavSection[] = SECTIONS): (NavPage & { page: PageKey })[] {
  return sections.flatMap((s) => s.pages).filter((p): p is NavPage & { page: PageKey } => !p.planned && !!p.page);
}

export interface NavContext {
  operator: boolean;
  orgId?: string;
  siteId?: string;
}

export interface NavLinkEntry {
  label: string;
  href: string;
  prefix: boolean;
}

/**
 * visibleSections answers what the navigation shows for this user and place:
 * no planned page, no operator section for others, no site pages without a
 * site and no organisation pages without an organisation. Empty sections go.
 */
export function visibleSections(ctx: NavContext, sections: NavSection[] = SECTIONS): { id: string; label: string; links: NavLinkEntry[] }[] {
  const out = [];
  for (const s of sections) {
    if (s.operatorOnly && !ctx.operator) continue;
    const links: NavLinkEntry[] = [];
    for (const p of s.pages) {
      if (p.planned || !p.page) continue;
      if (p.scope === "site" && !(ctx.orgId && ctx.siteId)) continue;
      if (p.scope === "org" && !ctx.orgId) continue;
      links.push({ label: p.label, href: "/" + fillPath(p.path, ctx), prefix: !!p.prefix });
    }
    if (links.length) out.push({ id: s.id, label: s.label, links });
  }
  return out;
}

function fillPath(path: string, ctx: NavContext): string {
  return path.replace(":orgId", encodeURIComponent(ctx.orgId ?? "")).replace(":siteId", encodeURIComponent(ctx.siteId ?? ""));
}
