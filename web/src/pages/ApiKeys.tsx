import { useState, type FormEvent } from "react";
import { useParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { canManage, ROLE_LABELS, useApp } from "../app/AppContext";
import { useAsync } from "../app/useAsync";
import { CopyButton, EmptyState, ErrorBox, PageHeader, Spinner } from "../components/ui";
import { formatDateTime, formatRelative } from "../lib/format";

type Role = Schemas["v1Role"];

export function ApiKeys() {
  const { orgId = "" } = useParams();
  const { me } = useApp();
  const admin = canManage(me?.memberships?.find((m) => m.organizationId === orgId)?.role);
  const keys = useAsync(
    () => unwrap(api.GET("/api/v1/organizations/{organizationId}/api-keys", { params: { path: { organizationId: orgId }, query: { pageSize: 500 } } })),
    [orgId],
  );
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("ROLE_VIEWER");
  const [secret, setSecret] = useState<string>();
  const [error, setError] = useState<Error>();

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const r = await unwrap(api.POST("/api/v1/organizations/{organizationId}/api-keys", { params: { path: { organizationId: orgId } }, body: { name, role } }));
      setSecret(r.secret);
      setName("");
      keys.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  const revoke = async (k: Schemas["v1ApiKey"]) => {
    if (!window.confirm(`Revoke "${k.name}"? Programs using it stop working at once.`)) return;
    try {
      await unwrap(api.DELETE("/api/v1/organizations/{organizationId}/api-keys/{apiKeyId}", { params: { path: { organizationId: orgId, apiKeyId: k.id! } } }));
      keys.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  const list = keys.data?.apiKeys ?? [];
  return (
    <div className="narrow">
      <PageHeader
        title="API keys"
        subtitle={
          <>
            For scripts and integrations: send <code>Authorization: Bearer &lt;key&gt;</code> to <code>/api/v1</code>.
          </>
        }
      />
      <ErrorBox error={error} />
      {admin && (
        <form className="card form" onSubmit={create} data-testid="create-api-key">
          <h2>Create a key</h2>
          <div className="row gap">
            <input required placeholder="What is it for? e.g. “Nightly export”" value={name} onChange={(e) => setName(e.target.value)} className="grow" name="name" />
            <select value={role} onChange={(e) => setRole(e.target.value as Role)} name="role">
              {(["ROLE_VIEWER", "ROLE_MEMBER", "ROLE_ADMIN"] as Role[]).map((r) => (
                <option key={r} value={r}>
                  {ROLE_LABELS[r]}
                </option>
              ))}
            </select>
            <button className="btn btn-primary" type="submit">
              Create key
            </button>
          </div>
        </form>
      )}
      {secret && (
        <div className="card secret" data-testid="api-key-secret">
          <strong>Copy your new key now — it won't be shown again.</strong>
          <div className="snippet">
            <code>{secret}</code>
            <CopyButton text={secret} />
          </div>
          <button className="btn btn-ghost btn-small" onClick={() => setSecret(undefined)}>
            I've stored it
          </button>
        </div>
      )}
      {keys.loading ? (
        <Spinner />
      ) : keys.error ? (
        <ErrorBox error={keys.error} onRetry={keys.reload} />
      ) : list.length === 0 ? (
        <EmptyState title="No API keys" icon="⚿" testId="api-keys-empty">
          Create a key to read recordings and manage sites from your own scripts.
        </EmptyState>
      ) : (
        <section className="card">
          <table className="table" data-testid="api-key-list">
            <thead>
              <tr>
                <th>Name</th>
                <th>Key</th>
                <th>Role</th>
                <th>Created</th>
                <th>Last used</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((k) => (
                <tr key={k.id} className={k.revokeTime ? "revoked" : ""}>
                  <td>{k.name}</td>
                  <td>
                    <code>{k.prefix}…</code>
                  </td>
                  <td>{ROLE_LABELS[k.role ?? "ROLE_UNSPECIFIED"]}</td>
                  <td className="muted">{formatDateTime(k.createTime)}</td>
                  <td className="muted">{k.lastUseTime ? formatRelative(k.lastUseTime) : "never"}</td>
                  <td>
                    {k.revokeTime ? (
                      <span className="muted small">revoked {formatRelative(k.revokeTime)}</span>
                    ) : (
                      admin && (
                        <button className="btn btn-ghost btn-small" onClick={() => revoke(k)}>
                          Revoke
                        </button>
                      )
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </div>
  );
}
