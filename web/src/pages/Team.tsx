import { useState, type FormEvent } from "react";
import { useParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { canManage, ROLE_LABELS, useApp } from "../app/AppContext";
import { useAsync } from "../app/useAsync";
import { CopyButton, ErrorBox, PageHeader, Spinner } from "../components/ui";
import { formatDateTime } from "../lib/format";

type Role = Schemas["v1Role"];
const ROLES: Role[] = ["ROLE_OWNER", "ROLE_ADMIN", "ROLE_MEMBER", "ROLE_VIEWER"];
const ROLE_HELP: Record<string, string> = {
  ROLE_OWNER: "Everything, including billing-level limits and removing admins",
  ROLE_ADMIN: "Manage sites, settings, members and API keys",
  ROLE_MEMBER: "Watch recordings and heatmaps",
  ROLE_VIEWER: "Watch recordings, read-only",
};

export function Team() {
  const { orgId = "" } = useParams();
  const { me } = useApp();
  const myRole = me?.memberships?.find((m) => m.organizationId === orgId)?.role;
  const admin = canManage(myRole);
  const members = useAsync(
    () => unwrap(api.GET("/api/v1/organizations/{organizationId}/members", { params: { path: { organizationId: orgId }, query: { pageSize: 500 } } })),
    [orgId],
  );
  const invites = useAsync(
    () =>
      admin
        ? unwrap(api.GET("/api/v1/organizations/{organizationId}/invitations", { params: { path: { organizationId: orgId }, query: { pageSize: 500 } } }))
        : Promise.resolve(undefined),
    [orgId, admin],
  );
  const audit = useAsync(
    () =>
      admin
        ? unwrap(api.GET("/api/v1/organizations/{organizationId}/audit-events", { params: { path: { organizationId: orgId }, query: { pageSize: 50 } } }))
        : Promise.resolve(undefined),
    [orgId, admin],
  );
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("ROLE_MEMBER");
  const [link, setLink] = useState<string>();
  const [error, setError] = useState<Error>();

  const invite = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const r = await unwrap(
        api.POST("/api/v1/organizations/{organizationId}/invitations", { params: { path: { organizationId: orgId } }, body: { email, role } }),
      );
      setLink(`${window.location.origin}/invite?token=${encodeURIComponent(r.token ?? "")}`);
      setEmail("");
      invites.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  const act = async (fn: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await fn();
      members.reload();
      invites.reload();
    } catch (err) {
      setError(err as Error);
    }
  };

  return (
    <div className="narrow">
      <PageHeader title="Team" subtitle="Who can see this organisation's sites and recordings." />
      <ErrorBox error={error} />
      {admin && (
        <form className="card form" onSubmit={invite} data-testid="invite-form">
          <h2>Invite a teammate</h2>
          <div className="row gap">
            <input type="email" required placeholder="name@company.com" value={email} onChange={(e) => setEmail(e.target.value)} className="grow" name="email" />
            <select value={role} onChange={(e) => setRole(e.target.value as Role)} name="role">
              {ROLES.filter((r) => r !== "ROLE_OWNER" || myRole === "ROLE_OWNER").map((r) => (
                <option key={r} value={r}>
                  {ROLE_LABELS[r]}
                </option>
              ))}
            </select>
            <button className="btn btn-primary" type="submit">
              Send invite
            </button>
          </div>
          <small className="muted">{ROLE_HELP[role]}</small>
          {link && (
            <div className="secret" data-testid="invite-link">
              <div>
                <strong>Invitation created.</strong> We've e-mailed it if mail is set up; you can also send this link yourself. It's shown only now.
              </div>
              <div className="snippet">
                <code>{link}</code>
                <CopyButton text={link} />
              </div>
            </div>
          )}
        </form>
      )}
      <section className="card">
        <h2>Members</h2>
        {members.loading ? (
          <Spinner />
        ) : (
          <table className="table" data-testid="member-list">
            <thead>
              <tr>
                <th>Name</th>
                <th>Role</th>
                <th>Joined</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {(members.data?.members ?? []).map((m) => {
                const self = m.user?.id === me?.user?.id;
                return (
                  <tr key={m.user?.id}>
                    <td>
                      {m.user?.name || m.user?.email} {self && <span className="muted small">(you)</span>}
                      <div className="muted small">{m.user?.email}</div>
                    </td>
                    <td>
                      {admin && !self ? (
                        <select
                          value={m.role}
                          aria-label="Role"
                          onChange={(e) =>
                            act(() =>
                              unwrap(
                                api.PATCH("/api/v1/organizations/{organizationId}/members/{userId}", {
                                  params: { path: { organizationId: orgId, userId: m.user!.id! } },
                                  body: { role: e.target.value as Role },
                                }),
                              ),
                            )
                          }
                        >
                          {ROLES.map((r) => (
                            <option key={r} value={r}>
                              {ROLE_LABELS[r]}
                            </option>
                          ))}
                        </select>
                      ) : (
                        ROLE_LABELS[m.role ?? "ROLE_UNSPECIFIED"]
                      )}
                    </td>
                    <td className="muted">{formatDateTime(m.joinTime)}</td>
                    <td>
                      {(admin || self) && (
                        <button
                          className="btn btn-ghost btn-small"
                          onClick={() =>
                            window.confirm(self ? "Leave this organisation?" : `Remove ${m.user?.email}?`) &&
                            act(() =>
                              unwrap(
                                api.DELETE("/api/v1/organizations/{organizationId}/members/{userId}", {
                                  params: { path: { organizationId: orgId, userId: m.user!.id! } },
                                }),
                              ),
                            )
                          }
                        >
                          {self ? "Leave" : "Remove"}
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
        {members.data?.members?.length === 1 && <p className="muted small">It's just you so far. Invite the people who fix what recordings show.</p>}
      </section>
      {admin && (invites.data?.invitations?.length ?? 0) > 0 && (
        <section className="card">
          <h2>Pending invitations</h2>
          <table className="table">
            <tbody>
              {invites.data!.invitations!.map((i) => (
                <tr key={i.id}>
                  <td>{i.email}</td>
                  <td>{ROLE_LABELS[i.role ?? "ROLE_UNSPECIFIED"]}</td>
                  <td className="muted">expires {formatDateTime(i.expireTime)}</td>
                  <td>
                    <button
                      className="btn btn-ghost btn-small"
                      onClick={() =>
                        act(() =>
                          unwrap(
                            api.DELETE("/api/v1/organizations/{organizationId}/invitations/{invitationId}", {
                              params: { path: { organizationId: orgId, invitationId: i.id! } },
                            }),
                          ),
                        )
                      }
                    >
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    {admin && (audit.data?.events?.length ?? 0) > 0 && (
        <section className="card">
          <h2>Audit log</h2>
          <p className="muted small">Security-relevant changes in this organisation, newest first.</p>
          <table className="table" data-testid="audit-log">
            <tbody>
              {audit.data!.events!.map((ev) => {
                const who = (members.data?.members ?? []).find((m) => m.user?.id === ev.actorUserId)?.user;
                return (
                  <tr key={ev.id}>
                    <td className="muted">{formatDateTime(ev.createTime)}</td>
                    <td>{who?.name || who?.email || (ev.actorUserId && ev.actorUserId !== "0" ? `user ${ev.actorUserId}` : "system")}</td>
                    <td>
                      <code>{ev.action}</code>
                    </td>
                    <td className="muted">{ev.target}</td>
                    <td className="muted small">{ev.ipPrefix}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
      )}
    </div>
  );
}
