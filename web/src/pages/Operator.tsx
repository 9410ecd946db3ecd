import { useState, type FormEvent, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { type Schemas } from "../api/client";
import { $api } from "../api/query";
import { useApp } from "../app/AppContext";
import { ErrorBox, PageHeader, QueryStatus, RefreshButton } from "../components/ui";
import { formatDateTime, formatDuration, formatRelative, parseDuration } from "../lib/format";
import { draftOf, limitsOf, limitText, type Limits, type LimitsDraft } from "../lib/limits";

type Stats = Schemas["v1GetStatsResponse"];
type OrgOverview = Schemas["v1OrganizationOverview"];

/** Operator shows ingest's health for the instance's operators: spool, forwarder, dead letters, limit hits. */
export function Operator() {
  const stats = $api.useQuery("get", "/api/v1/admin/ingest/stats");
  // Others get the stats' refusal once, not one per section.
  const operator = !!useApp().me?.user?.operator;
  return (
    <div className="narrow" data-testid="operator-page">
      <PageHeader
        title="Ingest & limits"
        subtitle="This instance's intake: what waits in the spool, delivery to recordings, what was refused."
        actions={<RefreshButton query={stats} />}
      />
      {stats.data ? <StatsView stats={stats.data} /> : <QueryStatus query={stats} />}
      {operator && <InstanceLimits />}
      {operator && <Organizations />}
    </div>
  );
}

const ORGS_PAGE = 200;

/** LimitsFields edits one set of limits; an empty field means unlimited. */
function LimitsFields({ draft, set }: { draft: LimitsDraft; set: (d: LimitsDraft) => void }) {
  const field = (k: keyof LimitsDraft, label: string, hint: string) => (
    <label>
      {label}
      <input
        name={k}
        value={draft[k]}
        inputMode={k === "name" ? undefined : "numeric"}
        placeholder={k === "name" ? "none" : "unlimited"}
        maxLength={k === "name" ? 64 : 10}
        onChange={(e) => set({ ...draft, [k]: e.target.value })}
        className={k === "name" ? undefined : "input-short"}
      />
      <small className="muted">{hint}</small>
    </label>
  );
  return (
    <>
      {field("sessionsPerDay", "Recorded sessions a day per site", "Past it, new sessions wait for the next UTC day.")}
      {field("maxRetentionDays", "Longest retention (days)", "Sites choose up to this; empty allows up to 3650.")}
      {field("maxSites", "Sites per organisation", "")}
      {field("maxSeats", "Members per organisation", "")}
      {field("name", "Label (optional)", "Shown to users, e.g. a hosting plan's name. Leave empty on a self-hosted instance.")}
    </>
  );
}

/** InstanceLimits: the defaults every organisation without its own follows. */
function InstanceLimits() {
  const qc = useQueryClient();
  const q = $api.useQuery("get", "/api/v1/admin/limits");
  const [draft, setDraft] = useState<LimitsDraft>();
  const [problem, setProblem] = useState("");
  const save = $api.useMutation("put", "/api/v1/admin/limits", {
    onSuccess: () => {
      setDraft(undefined);
      void qc.invalidateQueries({ queryKey: ["get", "/api/v1/admin/limits"] });
      void qc.invalidateQueries({ queryKey: ["get", "/api/v1/admin/organizations"] });
    },
  });
  const d = draft ?? draftOf(q.data?.limits);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const r = limitsOf(d);
    setProblem("error" in r ? r.error : "");
    if ("limits" in r) save.mutate({ body: { limits: r.limits } });
  };
  return (
    <section className="card" aria-labelledby="op-instance-limits" data-testid="instance-limits">
      <h2 id="op-instance-limits">Instance limits</h2>
      <p className="muted">
        What every organisation may use unless you give it its own limits below. Empty means unlimited.{" "}
        {q.data && !q.data.setByOperator && "These come from the accounts.default-plan.* flags until you save them here."}
      </p>
      {!q.data ? (
        <QueryStatus query={q} />
      ) : (
        <form className="form" onSubmit={submit}>
          <LimitsFields draft={d} set={setDraft} />
          {problem && <p className="error-box" role="alert">{problem}</p>}
          <ErrorBox error={save.error} />
          <button className="btn btn-primary" type="submit" disabled={save.isPending}>
            Save instance limits
          </button>
        </form>
      )}
    </section>
  );
}

/** Organizations lists every organisation with its effective limits and edits one. */
function Organizations() {
  const q = $api.useQuery("get", "/api/v1/admin/organizations", { params: { query: { pageSize: ORGS_PAGE } } });
  const [editing, setEditing] = useState<string>();
  const orgs = q.data?.organizations ?? [];
  return (
    <section className="card" aria-labelledby="op-orgs" data-testid="operator-orgs">
      <h2 id="op-orgs">Organisations</h2>
      {!q.data ? (
        <QueryStatus query={q} />
      ) : (
        <table className="table">
          <caption className="sr-only">Organisations and their limits</caption>
          <thead>
            <tr>
              <th scope="col">Organisation</th>
              <th scope="col" className="num">Sites</th>
              <th scope="col" className="num">Members</th>
              <th scope="col">Limits</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {orgs.map((v) => (
              <OrgRow key={v.organization?.id} v={v} editing={editing === v.organization?.id} onEdit={setEditing} />
            ))}
          </tbody>
        </table>
      )}
      {q.data?.nextPageToken && <p className="muted small">Showing the first {ORGS_PAGE} organisations.</p>}
    </section>
  );
}

function summary(p: Limits | undefined): string {
  return `${limitText(p?.sessionsPerDay)} sessions/day · ${limitText(p?.maxRetentionDays)} days · ${limitText(p?.maxSites)} sites · ${limitText(p?.maxSeats)} members`;
}

function OrgRow({ v, editing, onEdit }: { v: OrgOverview; editing: boolean; onEdit: (id?: string) => void }) {
  const o = v.organization ?? {};
  return (
    <>
      <tr data-testid="operator-org" data-org={o.id}>
        <td>{o.name}</td>
        <td className="num">{limitText(v.siteCount)}</td>
        <td className="num">{limitText(v.memberCount)}</td>
        <td>
          {summary(o.plan)} {o.customLimits ? <span className="badge">own limits</span> : <span className="muted small">instance defaults</span>}
        </td>
        <td>
          <button type="button" className="btn btn-ghost btn-small" onClick={() => onEdit(editing ? undefined : o.id)} aria-expanded={editing}>
            {editing ? "Close" : "Edit limits"}
          </button>
        </td>
      </tr>
      {editing && (
        <tr>
          <td colSpan={5}>
            <OrgLimitsForm org={o} onDone={() => onEdit(undefined)} />
          </td>
        </tr>
      )}
    </>
  );
}

function OrgLimitsForm({ org, onDone }: { org: Schemas["v1Organization"]; onDone: () => void }) {
  const qc = useQueryClient();
  const [draft, setDraft] = useState(() => draftOf(org.plan));
  const [problem, setProblem] = useState("");
  const save = $api.useMutation("put", "/api/v1/admin/organizations/{organizationId}/limits", {
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ["get", "/api/v1/admin/organizations"] });
      void qc.invalidateQueries({ queryKey: ["get", "/api/v1/organizations/{organizationId}"] });
      onDone();
    },
  });
  const path = { organizationId: org.id ?? "" };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const r = limitsOf(draft);
    setProblem("error" in r ? r.error : "");
    if ("limits" in r) save.mutate({ params: { path }, body: { limits: r.limits } });
  };
  return (
    <form className="form" onSubmit={submit} aria-label={`Limits of ${org.name}`} data-testid="org-limits-form">
      <LimitsFields draft={draft} set={setDraft} />
      {problem && <p className="error-box" role="alert">{problem}</p>}
      <ErrorBox error={save.error} />
      <div className="row gap">
        <button className="btn btn-primary" type="submit" disabled={save.isPending}>
          Save limits of {org.name}
        </button>
        {org.customLimits && (
          <button type="button" className="btn" disabled={save.isPending} onClick={() => save.mutate({ params: { path }, body: { useDefaults: true } })}>
            Back to instance defaults
          </button>
        )}
      </div>
    </form>
  );
}

function StatsView({ stats }: { stats: Stats }) {
  const spool = stats.spool ?? {};
  const fwd = stats.forwarder ?? {};
  const held = num(spool.bytes);
  const max = num(spool.maxBytes);
  const hits = (stats.limitHits ?? []).filter((h) => num(h.count) > 0);
  return (
    <div className="stats-grid">
      <section className="card" aria-labelledby="op-spool">
        <h2 id="op-spool">Spool</h2>
        <dl className="stats">
          <Stat label="Records held">{count(spool.records)}</Stat>
          <Stat label="Bytes held">
            {bytes(held)}
            {max > 0 && ` of ${bytes(max)}`}
          </Stat>
          <Stat label="Oldest record">{spool.oldestRecordTime ? formatRelative(spool.oldestRecordTime) : "none waiting"}</Stat>
          <Stat label="Segments">{spool.segments ?? 0}</Stat>
        </dl>
        {max > 0 && <meter className="meter" min={0} max={max} value={held} high={max * 0.8} aria-label="Spool use" />}
      </section>
      <section className="card" aria-labelledby="op-forwarder">
        <h2 id="op-forwarder">
          Forwarder{" "}
          {fwd.stalled ? <span className="badge badge-rage">stalled</span> : <span className="badge badge-ok">delivering</span>}
        </h2>
        <dl className="stats">
          <Stat label="Delivered records">{count(fwd.deliveredRecords)}</Stat>
          <Stat label="Failed attempts">{count(fwd.failedAttempts)}</Stat>
          <Stat label="Lag">{formatDuration(parseDuration(fwd.lag))}</Stat>
          <Stat label="Last delivery">{fwd.lastDeliveryTime ? formatDateTime(fwd.lastDeliveryTime) : "never"}</Stat>
          {fwd.lastError && <Stat label="Last error">{fwd.lastError}</Stat>}
        </dl>
      </section>
      <section className="card" aria-labelledby="op-dead">
        <h2 id="op-dead">Dead letters</h2>
        <dl className="stats">
          <Stat label="Records">{count(spool.deadLetterRecords)}</Stat>
          <Stat label="Bytes">{bytes(num(spool.deadLetterBytes))}</Stat>
          <Stat label="Dead-lettered since start">{count(fwd.deadLettered)}</Stat>
        </dl>
        <p className="muted small">
          List, show or replay them with <code>sightline spool dead-letter list</code> on the server.
        </p>
      </section>
      <section className="card" aria-labelledby="op-limits">
        <h2 id="op-limits">Limits</h2>
        <dl className="stats">
          <Stat label="Accepted batches">{count(stats.acceptedBatches)}</Stat>
          <Stat label="Rejected batches">{count(stats.rejectedBatches)}</Stat>
        </dl>
        {hits.length === 0 ? (
          <p className="muted">No limit was hit since start.</p>
        ) : (
          <table className="table">
            <caption className="sr-only">Limit hits since start</caption>
            <thead>
              <tr>
                <th scope="col">Limit</th>
                <th scope="col" className="num">
                  Hits
                </th>
              </tr>
            </thead>
            <tbody>
              {hits.map((h) => (
                <tr key={h.limit}>
                  <td>
                    <code>{h.limit}</code>
                  </td>
                  <td className="num">{count(h.count)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}

function Stat({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="stat">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

// int64 fields arrive as strings in protojson.
function num(v: string | undefined): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}

function count(v: string | undefined): string {
  return num(v).toLocaleString();
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
