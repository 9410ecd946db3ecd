import { useState, type FormEvent } from "react";
import { useParams } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { type Schemas } from "../api/client";
import { $api } from "../api/query";
import { optimisticList } from "../api/optimistic";
import { canManage, myRole, ROLE_LABELS, useApp } from "../app/AppContext";
import { CopyButton, EmptyState, ErrorBox, PageHeader, QueryStatus } from "../components/ui";
import { formatDateTime, formatRelative } from "../lib/format";

type Role = Schemas["v1Role"];
type ApiKey = Schemas["v1ApiKey"];
type KeyVars = { params: { path: { apiKeyId: string } } };

export function ApiKeys() {
  const { orgId = "" } = useParams();
  const { me } = useApp();
  const admin = canManage(myRole(me, orgId));
  const qc = useQueryClient();
  const keysInit = { params: { path: { organizationId: orgId }, query: { pageSize: 500 } } };
  const keys = $api.useQuery("get", "/api/v1/organizations/{organizationId}/api-keys", keysInit);
  const keysKey = $api.queryOptions("get", "/api/v1/organizations/{organizationId}/api-keys", keysInit).queryKey;
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("ROLE_VIEWER");
  const [secret, setSecret] = useState<string>();
  const settled = () => void qc.invalidateQueries({ queryKey: keysKey });
  const createKey = $api.useMutation("post", "/api/v1/organizations/{organizationId}/api-keys", {
    onSuccess: (r) => {
      setSecret(r.secret);
      setName("");
    },
    onSettled: settled,
  });
  // A revoked key stays in the list, marked revoked, from the click on.
  const revokeKey = $api.useMutation("delete", "/api/v1/organizations/{organizationId}/api-keys/{apiKeyId}", {
    ...optimisticList(qc, keysKey, "apiKeys", (k: ApiKey, v: KeyVars) => (k.id === v.params.path.apiKeyId ? { ...k, revokeTime: new Date().toISOString() } : k)),
    onSettled: settled,
  });
  const error = createKey.error ?? revokeKey.error;

  const create = (e: FormEvent) => {
    e.preventDefault();
    createKey.mutate({ params: { path: { organizationId: orgId } }, body: { name, role } });
  };
  const revoke = (k: ApiKey) => {
    if (!window.confirm(`Revoke "${k.name}"? Programs using it stop working at once.`)) return;
    revokeKey.mutate({ params: { path: { organizationId: orgId, apiKeyId: k.id! } } });
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
            <input required placeholder="What is it for? e.g. “Nightly export”" value={name} onChange={(e) => setName(e.target.value)} className="grow" name="name" aria-label="Key name" />
            <select value={role} onChange={(e) => setRole(e.target.value as Role)} name="role" aria-label="Role">
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
      {!keys.data ? (
        <QueryStatus query={keys} />
      ) : list.length === 0 ? (
        <EmptyState title="No API keys" testId="api-keys-empty">
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
