import { NavLink, Outlet, useNavigate, useParams } from "react-router";
import { useApp, ROLE_LABELS } from "./AppContext";
import { api, unwrap } from "../api/client";
import { useAsync } from "./useAsync";

export function Layout() {
  const { me, config, logOut, refreshMe } = useApp();
  const { orgId: orgParam, siteId } = useParams();
  const navigate = useNavigate();
  const memberships = me?.memberships ?? [];
  const orgId = orgParam ?? memberships[0]?.organizationId;
  const current = memberships.find((m) => m.organizationId === orgId);

  const sites = useAsync(
    () =>
      orgId
        ? unwrap(api.GET("/api/v1/organizations/{organizationId}/sites", { params: { path: { organizationId: orgId }, query: { pageSize: 200 } } }))
        : Promise.resolve(undefined),
    // Re-read when the site changes, so a site created a moment ago is in the switcher.
    [orgId, siteId],
  );

  const switchOrg = (id: string) => {
    if (id === "__new") {
      const name = window.prompt("Name of the new organisation");
      if (!name?.trim()) return;
      unwrap(api.POST("/api/v1/organizations", { body: { name: name.trim() } })).then(
        async (r) => {
          await refreshMe();
          navigate(`/o/${r.organization?.id}/sites`);
        },
        (e: Error) => window.alert(e.message),
      );
      return;
    }
    navigate(`/o/${id}`);
  };

  return (
    <div className="shell">
      <header className="topbar">
        <div className="brand" onClick={() => navigate("/")}>
          <span className="brand-mark" aria-hidden>
            ◉
          </span>
          Sightline
        </div>
        <label className="org-switch">
          <span className="sr-only">Organisation</span>
          <select
            value={orgId ?? ""}
            onChange={(e) => switchOrg(e.target.value)}
            data-testid="org-switcher"
            title="Switch organisation"
          >
            {memberships.map((m) => (
              <option key={m.organizationId} value={m.organizationId}>
                {m.organizationName}
              </option>
            ))}
            <option value="__new">+ New organisation…</option>
          </select>
        </label>
        {orgId && sites.data?.sites && sites.data.sites.length > 0 && (
          <label className="site-switch">
            <span className="sr-only">Site</span>
            <select
              value={siteId ?? ""}
              onChange={(e) => e.target.value && navigate(`/o/${orgId}/sites/${e.target.value}/recordings`)}
              data-testid="site-switcher"
              title="Switch site"
            >
              {!siteId && <option value="">Choose a site…</option>}
              {sites.data.sites.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {orgId && (
          <nav className="nav">
            {siteId && (
              <>
                <NavLink to={`/o/${orgId}/sites/${siteId}/recordings`} end={false}>
                  Recordings
                </NavLink>
                <NavLink to={`/o/${orgId}/sites/${siteId}/setup`}>Install &amp; settings</NavLink>
              </>
            )}
            <NavLink to={`/o/${orgId}/sites`} end>
              Sites
            </NavLink>
            <NavLink to={`/o/${orgId}/team`}>Team</NavLink>
            <NavLink to={`/o/${orgId}/api-keys`}>API keys</NavLink>
          </nav>
        )}
        <div className="spacer" />
        <div className="user">
          <span className="user-name" title={me?.user?.email}>
            {me?.user?.name || me?.user?.email}
            {current && <small className="muted"> · {ROLE_LABELS[current.role ?? "ROLE_UNSPECIFIED"]}</small>}
          </span>
          <button
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
      <main className="content">
        <Outlet />
      </main>
      <footer className="footer muted">Sightline {config?.version ?? ""}</footer>
    </div>
  );
}
