import { useEffect, useRef, useState } from "react";
import { Link, NavLink, Outlet, useLocation, useNavigate, useParams } from "react-router";
import { useApp, useSite, useSites, ROLE_LABELS } from "./AppContext";
import { $api } from "../api/query";
import { ApiError } from "../api/client";
import { isMissing, Missing } from "../components/NotFound";
import { rememberSite, siteToShow } from "../lib/lastSite";
import { visibleSections } from "./sections";

export function Layout() {
  const { me, config, logOut, refreshMe } = useApp();
  const { orgId: orgParam, siteId } = useParams();
  const navigate = useNavigate();
  const location = useLocation();
  const memberships = me?.memberships ?? [];
  const orgId = orgParam ?? memberships[0]?.organizationId;
  const current = memberships.find((m) => m.organizationId === orgId);
  const [menuOpen, setMenuOpen] = useState(false);
  const menuButton = useRef<HTMLButtonElement>(null);

  // Creating, renaming or deleting a site invalidates this query, so the switcher follows.
  const sites = useSites(orgId);
  const siteList = sites.data?.sites ?? [];

  // On an organisation's pages the site pages stay reachable: they point at
  // the site last opened in this organisation (remembered in the browser,
  // so a reload keeps it), or the first one.
  const siteIds = siteList.map((s) => s.id ?? "");
  const known = !!siteId && siteIds.includes(siteId);
  useEffect(() => {
    if (orgId && siteId && known) rememberSite(orgId, siteId);
  }, [orgId, siteId, known]);
  const activeSiteId = siteId ?? (orgId ? siteToShow(orgId, siteIds) : undefined);
  // A site that is not there (deleted, mistyped, someone else's) is said so
  // here, once for every site page, with the way to the organisation's sites.
  const site = useSite(siteId ?? "");
  const siteRefused = site.error instanceof ApiError && site.error.status === 403;
  const siteMissing = !!siteId && (isMissing(site.error) || siteRefused);

  const sections = visibleSections({ operator: !!me?.user?.operator, orgId, siteId: activeSiteId });

  // A followed link closes the phone menu.
  useEffect(() => setMenuOpen(false), [location.pathname]);

  // The new organisation is one of the user's memberships: re-read /me before going there.
  const createOrg = $api.useMutation("post", "/api/v1/organizations", {
    onSuccess: async (r) => {
      await refreshMe();
      navigate(`/o/${r.organization?.id}/sites`);
    },
    onError: (e) => window.alert(e instanceof Error ? e.message : String(e)),
  });
  const switchOrg = (id: string) => {
    if (id === "__new") {
      const name = window.prompt("Name of the new organisation");
      if (name?.trim()) createOrg.mutate({ body: { name: name.trim() } });
      return;
    }
    navigate(`/o/${id}`);
  };

  // Switching site keeps the page (settings stay settings); a replay belongs
  // to its site, so it goes to the new site's recordings.
  const switchSite = (id: string) => {
    if (!id || !orgId) return;
    const page = /^\/o\/[^/]+\/sites\/[^/]+\/((?:settings\/)?[^/]+)$/.exec(location.pathname)?.[1] ?? "recordings";
    navigate(`/o/${orgId}/sites/${id}/${page}`);
  };

  return (
    <div className="shell">
      {/* The page has a <base href> (lib/base.ts), against which "#main" alone
          resolves to the dashboard's root, a page load: focus the content here. */}
      <a
        className="skip-link"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById("main")?.focus();
        }}
      >
        Skip to content
      </a>
      <header className="topbar">
        <button
          ref={menuButton}
          type="button"
          className="btn btn-ghost menu-button"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpen((o) => !o)}
          data-testid="menu-button"
        >
          <span aria-hidden>☰</span>
          <span className="sr-only">Menu</span>
        </button>
        <Link className="brand" to="/">
          <span className="brand-mark" aria-hidden>
            ◉
          </span>
          Sightline
        </Link>
        <div className="spacer" />
        <div className="user">
          <span className="user-name" title={me?.user?.email}>
            {me?.user?.name || me?.user?.email}
            {current && <small className="muted"> · {ROLE_LABELS[current.role ?? "ROLE_UNSPECIFIED"]}</small>}
          </span>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            data-testid="logout"
            onClick={async () => {
              await logOut();
              navigate("/login");
            }}
          >
            Log out
          </button>
        </div>
      </header>
      <div className="frame">
        <nav
          id="main-nav"
          className={menuOpen ? "sidenav sidenav-open" : "sidenav"}
          aria-label="Main"
          onKeyDown={(e) => {
            if (e.key === "Escape" && menuOpen) {
              setMenuOpen(false);
              menuButton.current?.focus();
            }
          }}
        >
          <div className="sidenav-inner">
            <div className="switchers">
              <label className="switch">
                <span className="switch-label">Organisation</span>
                <select value={orgId ?? ""} onChange={(e) => switchOrg(e.target.value)} data-testid="org-switcher">
                  {memberships.map((m) => (
                    <option key={m.organizationId} value={m.organizationId}>
                      {m.organizationName}
                    </option>
                  ))}
                  <option value="__new">+ New organisation…</option>
                </select>
              </label>
              {orgId && siteList.length > 0 && (
                <label className="switch">
                  <span className="switch-label">Site</span>
                  <select value={activeSiteId ?? ""} onChange={(e) => switchSite(e.target.value)} data-testid="site-switcher">
                    {/* The address names a site that is not in the list: show none rather than another one. */}
                    {activeSiteId && !siteIds.includes(activeSiteId) && (
                      <option value={activeSiteId} disabled>
                        {siteMissing ? "(site not found)" : "…"}
                      </option>
                    )}
                    {siteList.map((s) => (
                      <option key={s.id} value={s.id}>
                        {s.name}
                      </option>
                    ))}
                  </select>
                </label>
              )}
            </div>
            {sections.map((s) =>
              // A section that is one page of the same name is a plain link.
              s.links.length === 1 && s.links[0]!.label === s.label ? (
                <ul key={s.id} className="nav-list">
                  <NavItem {...s.links[0]!} />
                </ul>
              ) : (
                <div key={s.id} className="nav-section">
                  <div className="nav-heading" id={`nav-${s.id}`}>
                    {s.label}
                  </div>
                  <ul className="nav-list" aria-labelledby={`nav-${s.id}`}>
                    {s.links.map((l) => (
                      <NavItem key={l.href} {...l} />
                    ))}
                  </ul>
                </div>
              ),
            )}
          </div>
        </nav>
        <main id="main" className="content" tabIndex={-1}>
          {siteMissing ? (
            <Missing title="Site not found" testId="site-not-found" back={["See this organisation's sites", `/o/${orgId}/sites`]}>
              {siteRefused ? "This site belongs to an organisation you are not a member of." : "This site doesn't exist, or it was deleted."}
            </Missing>
          ) : (
            <Outlet />
          )}
        </main>
      </div>
      <footer className="footer muted">Sightline {config?.version ?? ""}</footer>
    </div>
  );
}

/** NavItem is one link; NavLink marks the current page with aria-current="page". */
function NavItem({ label, href, prefix }: { label: string; href: string; prefix: boolean }) {
  return (
    <li>
      <NavLink to={href} end={!prefix}>
        {label}
      </NavLink>
    </li>
  );
}
