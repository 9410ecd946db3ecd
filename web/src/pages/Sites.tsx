import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { $api } from "../api/query";
import { canManage, myRole, useApp, useSites } from "../app/AppContext";
import { EmptyState, ErrorBox, PageHeader, QueryStatus } from "../components/ui";
import { formatDateTime } from "../lib/format";
import { normalizeDomain } from "../lib/snippet";
import { useDomainCheck } from "../components/DomainCheck";
import { DemoCard } from "../components/DemoCard";

function CreateSite({ orgId, onCancel }: { orgId: string; onCancel?: () => void }) {
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [domain, setDomain] = useState("");
  const qc = useQueryClient();
  const create = $api.useMutation("post", "/api/v1/organizations/{organizationId}/sites", {
    // The switcher and the list show the new site.
    onSuccess: (r) => {
      void qc.invalidateQueries({ queryKey: ["get", "/api/v1/organizations/{organizationId}/sites"] });
      navigate(`/o/${orgId}/sites/${r.site?.id}/setup?new=1`);
    },
  });
  const busy = create.isPending;
  const domainCheck = useDomainCheck("create-site-problem");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const host = normalizeDomain(domain);
    if (!domainCheck.check(host)) return;
    create.mutate({ params: { path: { organizationId: orgId } }, body: { name: name.trim() || host, domains: host ? [host] : [] } });
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
          onChange={(e) => {
            setDomain(e.target.value);
            domainCheck.clear();
          }}
          required
          autoFocus
          {...domainCheck.inputProps}
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
      {domainCheck.message}
      <ErrorBox error={create.error} />
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
  const role = myRole(me, orgId);
  const [creating, setCreating] = useState(false);
  const sites = useSites(orgId);
  if (!sites.data) return <QueryStatus query={sites} />;
  const list = sites.data.sites ?? [];

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
        <DemoCard orgId={orgId} />
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
