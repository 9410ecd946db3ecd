import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { api, unwrap } from "../api/client";
import { canManage, useApp } from "../app/AppContext";
import { useAsync } from "../app/useAsync";
import { EmptyState, ErrorBox, PageHeader, Spinner } from "../components/ui";
import { formatDateTime } from "../lib/format";
import { normalizeDomain } from "../lib/snippet";

function CreateSite({ orgId, onCancel }: { orgId: string; onCancel?: () => void }) {
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [domain, setDomain] = useState("");
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const host = normalizeDomain(domain);
      const r = await unwrap(
        api.POST("/api/v1/organizations/{organizationId}/sites", {
          params: { path: { organizationId: orgId } },
          body: { name: name.trim() || host, domains: host ? [host] : [] },
        }),
      );
      navigate(`/o/${orgId}/sites/${r.site?.id}/setup?new=1`);
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card form" onSubmit={submit} data-testid="create-site-form">
      <h2>Add a site</h2>
      <label>
        Website domain
        <input
          name="domain"
          placeholder="shop.example.com"
          value={domain}
          onChange={(e) => setDomain(e.target.value)}
          required
          autoFocus
        />
        <small className="muted">
          Recordings are accepted only from the domains you list. Use <code>*.example.com</code> for all subdomains; you can add more later.
        </small>
      </label>
      <label>
        <span>
          Name <small className="muted">(optional)</small>
        </span>
        <input name="name" placeholder="My shop" value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <ErrorBox error={error} />
      <div className="row gap">
        <button className="btn btn-primary" type="submit" disabled={busy}>
          {busy ? "Creating…" : "Create site and get the snippet"}
        </button>
        {onCancel && (
          <button className="btn btn-ghost" type="button" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

export function Sites() {
  const { orgId = "" } = useParams();
  const [params] = useSearchParams();
  const { me } = useApp();
  const role = me?.memberships?.find((m) => m.organizationId === orgId)?.role;
  const [creating, setCreating] = useState(false);
  const sites = useAsync(
    () => unwrap(api.GET("/api/v1/organizations/{organizationId}/sites", { params: { path: { organizationId: orgId }, query: { pageSize: 200 } } })),
    [orgId],
  );
  if (sites.loading) return <Spinner />;
  if (sites.error) return <ErrorBox error={sites.error} onRetry={sites.reload} />;
  const list = sites.data?.sites ?? [];

  if (list.length === 0) {
    return (
      <div className="narrow">
        {params.get("welcome") && (
          <div className="welcome">
            <h1>Welcome to Sightline</h1>
            <p className="muted">Three steps to your first recording: add your site, paste one line into its pages, visit it.</p>
            <ol className="steps">
              <li className="step-current">Add your site</li>
              <li>Install the snippet</li>
              <li>Watch recordings</li>
            </ol>
          </div>
        )}
        {canManage(role) ? (
          <CreateSite orgId={orgId} />
        ) : (
          <EmptyState title="No sites yet" testId="sites-empty">
            Ask an admin of this organisation to add a site.
          </EmptyState>
        )}
      </div>
    );
  }

  return (
    <div className="sites-page">
      <PageHeader
        title="Sites"
        subtitle="Each site has its own snippet, domains, settings and recordings."
        actions={
          canManage(role) &&
          !creating && (
            <button className="btn btn-primary" onClick={() => setCreating(true)} data-testid="add-site">
              + Add site
            </button>
          )
        }
      />
      {creating && <CreateSite orgId={orgId} onCancel={() => setCreating(false)} />}
      <ul className="site-list" data-testid="site-list">
        {list.map((s) => (
          <li key={s.id} className="card site-card" data-testid="site-row" data-site-id={s.id}>
            <div className="site-main">
              <Link to={`/o/${orgId}/sites/${s.id}/recordings`} className="site-name">
                {s.name}
              </Link>
              <div className="muted small">
                {(s.domains ?? []).join(", ") || "No domains yet — recordings are refused until you add one"}
              </div>
              <div className="muted small">
                Created {formatDateTime(s.createTime)} · {s.settings?.recordingEnabled === false ? "Recording paused" : "Recording"}
              </div>
            </div>
            <div className="row gap">
              <Link className="btn" to={`/o/${orgId}/sites/${s.id}/setup`}>
                Install &amp; settings
              </Link>
              <Link className="btn btn-primary" to={`/o/${orgId}/sites/${s.id}/recordings`}>
                Recordings
              </Link>
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}
