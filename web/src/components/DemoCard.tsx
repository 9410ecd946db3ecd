import { useState } from "react";
import { useNavigate } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { $api } from "../api/query";
import { canManage, myRole, useApp, useSites } from "../app/AppContext";
import { ErrorBox } from "./ui";
import { normalizeDomain } from "../lib/snippet";
import { withBase } from "../lib/base";

/** DEMO_SITE is the name of the site the demo shop records into. */
export const DEMO_SITE = "Demo shop";

/** demoShopURL is the demo shop of a site key, on the dashboard's own origin. */
export function demoShopURL(siteKey: string): string {
  return withBase(`/demo/${encodeURIComponent(siteKey)}/`);
}

/** isDemoSite says whether a site is the demo shop's: its name, on the dashboard's own host. */
export function isDemoSite(site: { name?: string; domains?: string[] } | undefined): boolean {
  return !!site && site.name === DEMO_SITE && (site.domains ?? []).includes(normalizeDomain(window.location.hostname));
}

/**
 * DemoCard offers the demo shop the binary serves (only when the public
 * config says it does): one click makes the organisation's "Demo shop" site
 * if it has none, opens the shop in a new tab and brings this tab to that
 * site's recordings, where the visit shows up.
 */
export function DemoCard({ orgId, siteId }: { orgId: string; siteId?: string }) {
  const { config, me } = useApp();
  const sites = useSites(orgId);
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [blocked, setBlocked] = useState<string>();
  const create = $api.useMutation("post", "/api/v1/organizations/{organizationId}/sites");
  const host = normalizeDomain(window.location.hostname);
  const existing = (sites.data?.sites ?? []).find(isDemoSite);
  const manager = canManage(myRole(me, orgId));
  if (!config?.demoEnabled || !sites.data || (!existing && !manager)) return null;

  const open = async () => {
    setBlocked(undefined);
    // Opened now, inside the click, so that no popup blocker stops it;
    // it is pointed at the shop once the site exists.
    const tab = window.open("about:blank", "_blank");
    let site = existing;
    if (!site) {
      try {
        site = (await create.mutateAsync({ params: { path: { organizationId: orgId } }, body: { name: DEMO_SITE, domains: [host] } })).site;
      } catch {
        tab?.close();
        return;
      }
      void qc.invalidateQueries({ queryKey: ["get", "/api/v1/organizations/{organizationId}/sites"] });
    }
    if (!site?.id || !site.siteKey) {
      tab?.close();
      return;
    }
    const url = demoShopURL(site.siteKey);
    if (tab) {
      tab.opener = null;
      tab.location.href = url;
    } else {
      setBlocked(url);
    }
    navigate(`/o/${orgId}/sites/${site.id}/recordings`);
  };

  const here = !!existing && existing.id === siteId;
  return (
    <section className="card demo-card" data-testid="demo-card">
      <h2>{here ? "Waiting for your visit to the demo shop" : "Try it on the demo shop"}</h2>
      <p className="muted">
        {here
          ? "Click around in the demo shop's tab — open a product, add it to the cart, fill in the checkout. Your visit appears here within a minute and plays while you are still on the shop; your clicks show on the Heatmaps and the visit in the Overview."
          : "Sightline serves a small shop with the snippet already installed. Click around in it for a minute — open a product, add it to the cart, fill in the checkout — then come back here: your visit appears in Recordings, your clicks on the Heatmaps and the visit in the numbers."}
        {existing ? "" : ` It records into a site called “${DEMO_SITE}” that you can delete afterwards.`}
      </p>
      <ErrorBox error={create.error} />
      {blocked && (
        <p>
          Your browser blocked the new tab:{" "}
          <a href={blocked} target="_blank" rel="noopener" data-testid="demo-link">
            open the demo shop
          </a>
          .
        </p>
      )}
      <button className="btn btn-primary" onClick={() => void open()} disabled={create.isPending} data-testid="demo-open">
        {create.isPending ? "Setting up the demo…" : "Open the demo shop ↗"}
      </button>
    </section>
  );
}
