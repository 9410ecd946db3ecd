import { useState, type FormEvent } from "react";
import { useParams } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { type Schemas } from "../api/client";
import { $api } from "../api/query";
import { optimisticList } from "../api/optimistic";
import { canManage, myRole as roleIn, ROLE_LABELS, useApp } from "../app/AppContext";
import { CopyButton, ErrorBox, PageHeader, QueryStatus } from "../components/ui";
import { formatDateTime } from "../lib/format";
import { basePath } from "../lib/base";

type Role = Schemas["v1Role"];
type MemberVars = { params: { path: { userId: string } } };
type InvitationVars = { params: { path: { invitationId: string } } };
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
  const myRole = roleIn(me, orgId);
  const admin = canManage(myRole);
  const qc = useQueryClient();
  const org = { params: { path: { organizationId: orgId } } };
  const members = $api.useQuery("get", "/api/v1/organizations/{organizationId}/members", { params: { path: { organizationId: orgId }, query: { pageSize: 500 } } });
  const invitesInit = { params: { path: { organizationId: orgId }, query: { pageSize: 500 } } };
  const invites = $api.useQuery("get", "/api/v1/organizations/{organizationId}/invitations", invitesInit, { enabled: admin });
  const audit = $api.useQuery(
    "get",
    "/api/v1/organizations/{organizationId}/audit-events",
    { params: { path: { organizationId: orgId }, query: { pageSize: 50 } } },
    { enabled: admin },
  );
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("ROLE_MEMBER");
  const [link, setLink] = useState<string>();

  // Every change here is in the audit log and may change the member or invitation lists.
  const settled = () => {
    for (const path of ["members", "invitations", "audit-events"])
      void qc.invalidateQueries({ queryKey: ["get", `/api/v1/organizations/{organizationId}/${path}`] });
  };
  const membersKey = $api.queryOptions("get", "/api/v1/organizations/{organizationId}/members", { params: { path: { organizationId: orgId }, query: { pageSize: 500 } } }).queryKey;
  const invitesKey = $api.queryOptions("get", "/api/v1/organizations/{organizationId}/invitations", invitesInit).queryKey;
  const sendInvite = $api.useMutation("post", "/api/v1/organizations/{organizationId}/invitations", {
    onSuccess: (r) => {
      setLink(`${window.location.origin}${basePath}/invite?token=${encodeURIComponent(r.token ?? "")}`);
      setEmail("");
    },
    onSettled: settled,
  });
  const changeRole = $api.useMutation("patch", "/api/v1/organizations/{organizationId}/members/{userId}", { onSettled: settled });
  const removeMember = $api.useMutation("delete", "/api/v1/organizations/{organizationId}/members/{userId}", {
    ...optimisticList(qc, membersKey, "members", (m: Schemas["v1Member"], v: MemberVars) => (m.user?.id === v.params.path.userId ? null : m)),
    onSettled: settled,
  });
  const revokeInvite = $api.useMutation("delete", "/api/v1/organizations/{organizationId}/invitations/{invitationId}", {
    ...optimisticList(qc, invitesKey, "invitations", (i: Schemas["sightlineAccountsV1Invitation"], v: InvitationVars) => (i.id === v.params.path.invitationId ? null : i)),
    onSettled: settled,
  });
  const error = sendInvite.error ?? changeRole.error ?? removeMember.error ?? revokeInvite.error;

  const invite = (e: FormEvent) => {
    e.preventDefault();
    sendInvite.mutate({ ...org, body: { email, role } });
  };

  return (
    <div className="narrow">
      <PageHeader title="Team" subtitle="Who can see this organisation's sites and recordings." />
      <ErrorBox error={error} />
      {admin && (
        <form className="card form" onSubmit={invite} data-testid="invite-form">
          <h2>Invite a teammate</h2>
          <div className="row gap">
            <input type="email" required placeholder="name@company.com" value={email} onChange={(e) => setEmail(e.target.value)} className="grow" name="email" aria-label="E-mail address" />
            <select value={role} onChange={(e) => setRole(e.target.value as Role)} name="role" aria-label="Role">
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
        {!members.data ? (
          <QueryStatus query={members} />
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
                            changeRole.mutate({
                              params: { path: { organizationId: orgId, userId: m.user!.id! } },
                              body: { role: e.target.value as Role },
                            })
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
                            removeMember.mutate({ params: { path: { organizationId: orgId, userId: m.user!.id! } } })
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
                      onClick={() => revokeInvite.mutate({ params: { path: { organizationId: orgId, invitationId: i.id! } } })}
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
