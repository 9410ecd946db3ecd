// Site settings → Notifications: the signed-in user's own e-mails about a
// site — the digest (saved on change), alert rules (one sentence-shaped form
// per kind, notify.proto's ranges) — and the alerts fired on the site.
import { useState, type FormEvent, type ReactNode } from "react";
import { Link } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { forbiddenAs, type Schemas } from "../api/client";
import { $api } from "../api/query";
import { optimisticList } from "../api/optimistic";
import { myRole, useApp } from "../app/AppContext";
import { EmptyState, ErrorBox, PageHeader, QueryStatus } from "../components/ui";
import { formatDateTime, formatRelative } from "../lib/format";
import { FREQUENCIES, frequencyOf, localLink, type DigestFrequency } from "../notify/mail";
import {
  ALERT_KIND_LABELS,
  alertLinkLabel,
  defaultDraft,
  describeRule,
  draftFromRule,
  LIMITS,
  RULE_KINDS,
  ruleFromDraft,
  validateDraft,
  type AlertRule,
  type DraftErrors,
  type RuleDraft,
  type RuleKind,
} from "../notify/rules";
import { Pager, usePages } from "../notify/Pager";
import { useSitePage } from "./Home";
import "../notify/notify.css";

/** personalError reads a refused write kindly: a viewer's own settings are read-only. */
function personalError(e: unknown): unknown {
  return forbiddenAs(e, "Notifications belong to a signed-in person: log in as yourself (not with an API key) to change yours.");
}

export default function Notifications() {
  const { orgId, siteId, site } = useSitePage();
  const { me } = useApp();
  // Digests and alert rules are the caller's own e-mails: every role, viewers included, sets them (notify's needUser).
  const editable = !!myRole(me, orgId);
  return (
    <div className="narrow" data-testid="notifications-page">
      <PageHeader
        title="Notifications"
        subtitle={
          <>
            E-mails to you ({me?.user?.email}) about {site.data?.site?.name ?? "this site"}. Each person chooses their own.
          </>
        }
      />
      {!editable && (
        <p className="card muted" data-testid="notifications-readonly">
          You are not a member of this site's organisation, so these settings are read-only.
        </p>
      )}
      <Digest siteId={siteId} editable={editable} />
      <AlertRules siteId={siteId} orgId={orgId} editable={editable} />
      <FiredAlerts siteId={siteId} />
    </div>
  );
}

function Digest({ siteId, editable }: { siteId: string; editable: boolean }) {
  const qc = useQueryClient();
  const init = { params: { path: { siteId } } };
  const digest = $api.useQuery("get", "/api/v1/sites/{siteId}/digest", init);
  const key = $api.queryOptions("get", "/api/v1/sites/{siteId}/digest", init).queryKey;
  const [saved, setSaved] = useState(false);
  // The choice shows at once; a refused save puts the stored one back.
  const [choice, setChoice] = useState<DigestFrequency>();
  const save = $api.useMutation("put", "/api/v1/sites/{siteId}/digest", {
    onMutate: () => setSaved(false),
    onSuccess: (r) => {
      qc.setQueryData(key, { frequency: r.frequency });
      setSaved(true);
    },
    onSettled: () => setChoice(undefined),
  });
  const current = choice ?? frequencyOf(digest.data?.frequency);
  const choose = (f: DigestFrequency) => {
    setChoice(f);
    save.mutate({ params: { path: { siteId } }, body: { frequency: f } });
  };
  return (
    <section className="card" aria-labelledby="nt-digest">
      <h2 id="nt-digest">Digest</h2>
      {!digest.data ? (
        <QueryStatus query={digest} />
      ) : (
        <fieldset className="nt-choices" disabled={!editable} data-testid="digest">
          <legend className="muted">Sessions, the pages that frustrate visitors most, new feedback and NPS, by e-mail:</legend>
          {FREQUENCIES.map((f) => (
            <label key={f.value} className="toggle-inline nt-choice">
              <input type="radio" name="digest" value={f.value} checked={current === f.value} onChange={() => choose(f.value)} />
              <span>
                <strong>{f.label}</strong> <span className="muted small">{f.help}</span>
              </span>
            </label>
          ))}
        </fieldset>
      )}
      <ErrorBox error={personalError(save.error)} />
      <p className="small muted" role="status" data-testid="digest-status">
        {save.isPending ? "Saving…" : saved ? "Saved." : ""}
      </p>
    </section>
  );
}

type RuleVars = { params: { path: { "rule.id": string } }; body: { rule?: Partial<AlertRule> } };

function AlertRules({ siteId, orgId, editable }: { siteId: string; orgId: string; editable: boolean }) {
  const qc = useQueryClient();
  const init = { params: { path: { siteId } } };
  const rules = $api.useQuery("get", "/api/v1/sites/{siteId}/alert-rules", init);
  const key = $api.queryOptions("get", "/api/v1/sites/{siteId}/alert-rules", init).queryKey;
  const surveys = $api.useQuery("get", "/api/v1/sites/{siteId}/surveys", init);
  const surveyList = (surveys.data?.surveys ?? []).map((s) => ({ id: s.id ?? "", name: s.name ?? `Survey ${s.id}` }));
  const surveyName = (id: string) => surveyList.find((s) => s.id === id)?.name;
  // "new", a rule id being edited, or nothing.
  const [editing, setEditing] = useState<string>();
  const settled = () => void qc.invalidateQueries({ queryKey: key });
  const create = $api.useMutation("post", "/api/v1/sites/{rule.siteId}/alert-rules", { onSuccess: () => setEditing(undefined), onSettled: settled });
  // Switching a rule on or off, editing and deleting show at once, and are undone if refused.
  const update = $api.useMutation("patch", "/api/v1/sites/{rule.siteId}/alert-rules/{rule.id}", {
    ...optimisticList(qc, key, "rules", (r: AlertRule, v: RuleVars) =>
      r.id === v.params.path["rule.id"] ? { id: r.id, siteId: r.siteId, userId: r.userId, createTime: r.createTime, lastFireTime: r.lastFireTime, ...v.body.rule } : r,
    ),
    onSuccess: () => setEditing(undefined),
    onSettled: settled,
  });
  const remove = $api.useMutation("delete", "/api/v1/sites/{siteId}/alert-rules/{ruleId}", {
    ...optimisticList(qc, key, "rules", (r: AlertRule, v: { params: { path: { ruleId: string } } }) => (r.id === v.params.path.ruleId ? null : r)),
    onSettled: settled,
  });
  const error = personalError(remove.error ?? (editing ? undefined : update.error));

  const save = (d: RuleDraft, rule?: AlertRule) => {
    const body = ruleFromDraft(d);
    if (rule?.id) update.mutate({ params: { path: { "rule.siteId": siteId, "rule.id": rule.id } }, body: { rule: body } });
    else create.mutate({ params: { path: { "rule.siteId": siteId } }, body: { rule: body } });
  };
  const setEnabled = (rule: AlertRule, enabled: boolean) =>
    update.mutate({ params: { path: { "rule.siteId": siteId, "rule.id": rule.id! } }, body: { rule: { ...ruleFromDraft(draftFromRule(rule)), enabled } } });
  const del = (rule: AlertRule) => {
    if (!window.confirm(`Delete this alert?\n\n${describeRule(rule, surveyName)}`)) return;
    remove.mutate({ params: { path: { siteId, ruleId: rule.id! } } });
  };
  const list = rules.data?.rules ?? [];
  return (
    <section className="card" aria-labelledby="nt-alerts">
      <div className="row gap">
        <h2 id="nt-alerts" className="grow">
          Alerts
        </h2>
        {editable && editing !== "new" && (
          <button type="button" className="btn btn-small btn-primary" onClick={() => setEditing("new")} data-testid="add-alert">
            Add an alert
          </button>
        )}
      </div>
      <p className="muted small">An e-mail to you as soon as something needs a look, with a link to the matching recordings.</p>
      <ErrorBox error={error} />
      {editing === "new" && (
        <RuleForm
          surveys={surveyList}
          busy={create.isPending}
          error={personalError(create.error)}
          onSave={(d) => save(d)}
          onCancel={() => {
            create.reset();
            setEditing(undefined);
          }}
        />
      )}
      {!rules.data ? (
        <QueryStatus query={rules} />
      ) : list.length === 0 ? (
        editing !== "new" && (
          <EmptyState title="No alerts" testId="alerts-empty" icon="🔔">
            Add one to hear when the site stops sending data, when rage clicks or errors spike, or when a visitor is unhappy.
          </EmptyState>
        )
      ) : (
        <ul className="nt-rules" data-testid="alert-rules">
          {list.map((r) =>
            editing === r.id ? (
              <li key={r.id}>
                <RuleForm
                  initial={draftFromRule(r)}
                  surveys={surveyList}
                  busy={update.isPending}
                  error={personalError(update.error)}
                  onSave={(d) => save(d, r)}
                  onCancel={() => {
                    update.reset();
                    setEditing(undefined);
                  }}
                />
              </li>
            ) : (
              <li key={r.id} className="nt-rule" data-testid="alert-rule">
                <span className="grow">
                  <span className={r.enabled ? undefined : "muted"}>{describeRule(r, surveyName)}</span>
                  {!r.enabled && <span className="badge badge-dead nt-gap">paused</span>}
                  <br />
                  <small className="muted">Last sent: {r.lastFireTime ? formatRelative(r.lastFireTime) : "never"}</small>
                </span>
                {editable && (
                  <span className="row gap-small">
                    <label className="toggle-inline small">
                      <input type="checkbox" checked={!!r.enabled} onChange={(e) => setEnabled(r, e.target.checked)} />
                      On
                    </label>
                    <button type="button" className="btn btn-ghost btn-small" onClick={() => setEditing(r.id)} aria-label={`Edit: ${describeRule(r, surveyName)}`}>
                      Edit
                    </button>
                    <button type="button" className="btn btn-ghost btn-small" onClick={() => del(r)} aria-label={`Delete: ${describeRule(r, surveyName)}`}>
                      Delete
                    </button>
                  </span>
                )}
              </li>
            ),
          )}
        </ul>
      )}
      <p className="muted small">
        Alerts go to your own address; other people on the <Link to={`/o/${orgId}/team`}>team</Link> set theirs here too.
      </p>
    </section>
  );
}

/** RuleForm edits one rule as the sentence it reads as, inputs in place of the numbers. */
function RuleForm({
  initial,
  surveys,
  busy,
  error,
  onSave,
  onCancel,
}: {
  initial?: RuleDraft;
  surveys: { id: string; name: string }[];
  busy: boolean;
  error: unknown;
  onSave: (d: RuleDraft) => void;
  onCancel: () => void;
}) {
  const [d, setD] = useState<RuleDraft>(initial ?? defaultDraft("no_data"));
  const [errors, setErrors] = useState<DraftErrors>({});
  const set = (patch: Partial<RuleDraft>) => setD((x) => ({ ...x, ...patch }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errs = validateDraft(d);
    setErrors(errs);
    if (Object.keys(errs).length === 0) onSave(d);
  };
  const num = (field: "hours" | "factor" | "minSessions" | "maxRating" | "maxNps", label: string, opts: { min: number; max: number; step?: number; placeholder?: string }) => (
    <input
      type="number"
      className="input-short"
      inputMode={opts.step ? "decimal" : "numeric"}
      min={opts.min}
      max={opts.max}
      step={opts.step ?? 1}
      value={d[field]}
      placeholder={opts.placeholder}
      onChange={(e) => set({ [field]: e.target.value })}
      aria-label={label}
      aria-invalid={!!errors[field]}
      aria-describedby={errors[field] ? `rule-err-${field}` : undefined}
      name={field}
    />
  );
  const spike = (what: string) => (
    <Sentence>
      Tell me when sessions with {what} reach {num("factor", "Times the usual hourly rate", { ...LIMITS.factor, step: 0.5 })}× the usual hourly rate (at least{" "}
      {num("minSessions", "At least this many sessions", LIMITS.minSessions)} sessions)
    </Sentence>
  );
  return (
    <form className="nt-form" onSubmit={submit} data-testid="alert-form" noValidate>
      <fieldset className="nt-kinds">
        <legend>What should the alert watch?</legend>
        {RULE_KINDS.map((k) => (
          <label key={k.kind} className="toggle-inline">
            <input
              type="radio"
              name="kind"
              value={k.kind}
              checked={d.kind === k.kind}
              disabled={!!initial}
              onChange={() => {
                setErrors({});
                setD({ ...defaultDraft(k.kind as RuleKind), enabled: d.enabled });
              }}
            />
            {k.label}
          </label>
        ))}
      </fieldset>
      {d.kind === "no_data" && (
        <Sentence>
          Tell me when no data arrives for {num("hours", "Hours without data", LIMITS.hours)} hours
          <small className="muted nt-hint">Only for a site that sent data in the week before: the snippet may have been removed or broken.</small>
        </Sentence>
      )}
      {d.kind === "rage_clicks" && spike("rage clicks")}
      {d.kind === "js_errors" && spike("JavaScript errors")}
      {d.kind === "answer" && (
        <>
          <Sentence>
            Tell me about every{" "}
            <select value={d.surveyId} onChange={(e) => set({ surveyId: e.target.value })} aria-label="Which answers" name="surveyId">
              <option value="">feedback or survey answer</option>
              {surveys.map((s) => (
                <option key={s.id} value={s.id}>
                  answer to “{s.name}”
                </option>
              ))}
            </select>
          </Sentence>
          <Sentence>
            rated {num("maxRating", "Feedback rating at most (1 to 5, empty for any)", { min: 1, max: 5, placeholder: "any" })} or lower (feedback, 1–5)
          </Sentence>
          <Sentence>
            with NPS ≤ {num("maxNps", "NPS score at most (0 to 10, empty for any)", { min: 0, max: 10, placeholder: "any" })} (surveys, 0–10)
          </Sentence>
          <Sentence>
            containing{" "}
            <input
              type="text"
              value={d.textContains}
              maxLength={LIMITS.textContains.max}
              onChange={(e) => set({ textContains: e.target.value })}
              placeholder="any text"
              aria-label="Comment contains (empty for any)"
              name="textContains"
            />
          </Sentence>
        </>
      )}
      <FieldErrors errors={errors} />
      <label className="toggle-inline">
        <input type="checkbox" checked={d.enabled} onChange={(e) => set({ enabled: e.target.checked })} name="enabled" />
        On
      </label>
      <ErrorBox error={error} />
      <div className="row gap">
        <button type="submit" className="btn btn-primary btn-small" disabled={busy}>
          {busy ? "Saving…" : initial ? "Save alert" : "Add alert"}
        </button>
        <button type="button" className="btn btn-ghost btn-small" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Sentence({ children }: { children: ReactNode }) {
  return <p className="nt-sentence">{children}</p>;
}

function FieldErrors({ errors }: { errors: DraftErrors }) {
  const entries = Object.entries(errors);
  if (!entries.length) return null;
  return (
    <ul className="nt-errors" role="alert">
      {entries.map(([k, msg]) => (
        <li key={k} id={`rule-err-${k}`} className="danger-text">
          {msg}
        </li>
      ))}
    </ul>
  );
}

type Alert = Schemas["v1Alert"];
const ALERTS_PAGE = 20;

function FiredAlerts({ siteId }: { siteId: string }) {
  const pages = usePages();
  const pageToken = pages.pageToken;
  const alerts = $api.useQuery("get", "/api/v1/sites/{siteId}/alerts", { params: { path: { siteId }, query: { pageSize: ALERTS_PAGE, pageToken: pageToken || undefined } } });
  const list: Alert[] = alerts.data?.alerts ?? [];
  return (
    <section className="card" aria-labelledby="nt-fired">
      <h2 id="nt-fired">Fired alerts</h2>
      <p className="muted small">Every alert sent about this site, to anyone on the team, newest first.</p>
      {!alerts.data ? (
        <QueryStatus query={alerts} />
      ) : list.length === 0 && pages.first ? (
        <p className="muted" data-testid="fired-empty">
          No alert has fired on this site.
        </p>
      ) : (
        <>
          <table className="table" data-testid="fired-alerts">
            <thead>
              <tr>
                <th>When</th>
                <th>Kind</th>
                <th>What was seen</th>
                <th>
                  <span className="sr-only">Link</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((a) => (
                <tr key={a.id}>
                  <td className="muted">{formatDateTime(a.fireTime)}</td>
                  <td>
                    <span className="badge badge-error">{ALERT_KIND_LABELS[a.kind ?? ""] ?? a.kind}</span>
                  </td>
                  <td>{a.summary}</td>
                  <td>{a.link && <a href={localLink(a.link)}>{alertLinkLabel(a.link)}</a>}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager pages={pages} next={alerts.data.nextPageToken} />
        </>
      )}
    </section>
  );
}
