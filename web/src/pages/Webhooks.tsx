// Site settings → Webhooks: signed JSON events of a site posted to the
// team's own URLs (Standard Webhooks). Admins add, edit, pause, rotate and
// delete them; everyone on the team reads them and their delivery log.
// A signing secret is shown once, when made.
import { Fragment, useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";
import { useQueryClient } from "@tanstack/react-query";
import { forbiddenAs } from "../api/client";
import { $api } from "../api/query";
import { optimisticList } from "../api/optimistic";
import { canManage, myRole, useApp } from "../app/AppContext";
import { CopyButton, EmptyState, ErrorBox, PageHeader, QueryStatus, RefreshButton } from "../components/ui";
import { formatDateTime, formatRelative } from "../lib/format";
import {
  draftOf,
  eventLabel,
  EVENTS,
  failingBanner,
  inFlight,
  MAX_DESCRIPTION,
  MAX_URL,
  prettyJson,
  stateOf,
  statusText,
  toggleEvent,
  updateMask,
  validateWebhook,
  type Delivery,
  type Webhook,
  type WebhookDraft,
  type WebhookErrors,
} from "../notify/webhooks";
import { Pager, usePages } from "../notify/Pager";
import { useSitePage } from "./Home";
import "../notify/notify.css";

/** adminError reads a refused write kindly: only admins and owners change webhooks. */
function adminError(e: unknown): unknown {
  return forbiddenAs(e, "Only admins and owners of this organisation can change webhooks. Ask one of them to do it.");
}

const LIST = "/api/v1/sites/{siteId}/webhooks" as const;

export default function Webhooks() {
  const { orgId, siteId, site } = useSitePage();
  const { me } = useApp();
  const admin = canManage(myRole(me, orgId));
  const qc = useQueryClient();
  const init = { params: { path: { siteId } } };
  const hooks = $api.useQuery("get", LIST, init);
  const listKey = $api.queryOptions("get", LIST, init).queryKey;
  const settled = () => void qc.invalidateQueries({ queryKey: listKey });
  const [params, setParams] = useSearchParams();
  const [adding, setAdding] = useState(false);
  // A secret just made: shown once, until dismissed.
  const [secret, setSecret] = useState<{ value: string; rotated: boolean; url: string }>();
  const create = $api.useMutation("post", LIST, {
    onSuccess: (r) => {
      setAdding(false);
      setSecret({ value: r.secret ?? "", rotated: false, url: r.webhook?.url ?? "" });
      if (r.webhook?.id) select(r.webhook.id);
    },
    onSettled: settled,
  });
  const list = hooks.data?.webhooks ?? [];
  const selected = params.get("webhook") ?? (list.length === 1 ? list[0]!.id : undefined);
  function select(id: string | undefined) {
    const next = new URLSearchParams(params);
    if (id) next.set("webhook", id);
    else next.delete("webhook");
    setParams(next, { replace: true });
  }
  return (
    <div className="narrow" data-testid="webhooks-page">
      <PageHeader
        title="Webhooks"
        subtitle={<>Signed JSON events from {site.data?.site?.name ?? "this site"} to your own systems.</>}
        actions={
          admin &&
          !adding && (
            <button type="button" className="btn btn-primary" onClick={() => setAdding(true)} data-testid="add-webhook">
              Add a webhook
            </button>
          )
        }
      />
      {!admin && (
        <p className="card muted" data-testid="webhooks-readonly">
          Only admins and owners can add or change webhooks; you can see them and their deliveries.
        </p>
      )}
      {secret && <SecretPanel {...secret} onDone={() => setSecret(undefined)} />}
      {adding && (
        <section className="card" aria-labelledby="wh-new">
          <h2 id="wh-new">New webhook</h2>
          <WebhookForm
            busy={create.isPending}
            error={adminError(create.error)}
            submitLabel="Add webhook"
            onSave={(d) => create.mutate({ params: { path: { siteId } }, body: { url: d.url.trim(), events: d.events, description: d.description.trim() } })}
            onCancel={() => {
              create.reset();
              setAdding(false);
            }}
          />
        </section>
      )}
      {!hooks.data ? (
        <QueryStatus query={hooks} />
      ) : list.length === 0 ? (
        !adding && (
          <EmptyState title="No webhooks" testId="webhooks-empty" icon="⇄">
            A webhook posts an event to your URL when a session ends, feedback or a survey answer arrives, or the site stops sending data — each signed, so
            your receiver knows it came from Sightline.
          </EmptyState>
        )
      ) : (
        list.map((w) => (
          <WebhookCard
            key={w.id}
            siteId={siteId}
            webhook={w}
            admin={admin}
            open={selected === w.id}
            onToggle={() => select(selected === w.id ? undefined : w.id)}
            onSecret={(value) => setSecret({ value, rotated: true, url: w.url ?? "" })}
            onChanged={settled}
          />
        ))
      )}
      <SigningHelp />
    </div>
  );
}

function SecretPanel({ value, rotated, url, onDone }: { value: string; rotated: boolean; url: string; onDone: () => void }) {
  return (
    <div className="card secret" data-testid="webhook-secret" role="status">
      <strong>Copy the signing secret {url ? `for ${url} ` : ""}now — it won't be shown again.</strong>
      <div className="snippet">
        <code data-testid="webhook-secret-value">{value}</code>
        <CopyButton text={value} label="Copy secret" />
      </div>
      {rotated && <p className="small">The old secret keeps working for 24 hours: deliveries carry a signature with each, so your receiver can switch without missing any.</p>}
      <button type="button" className="btn btn-ghost btn-small" onClick={onDone}>
        I've stored it
      </button>
    </div>
  );
}

function WebhookForm({
  initial,
  busy,
  error,
  submitLabel,
  onSave,
  onCancel,
}: {
  initial?: WebhookDraft;
  busy: boolean;
  error: unknown;
  submitLabel: string;
  onSave: (d: WebhookDraft) => void;
  onCancel: () => void;
}) {
  const [d, setD] = useState<WebhookDraft>(initial ?? { url: "", events: EVENTS.map((e) => e.type), description: "" });
  const [errors, setErrors] = useState<WebhookErrors>({});
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errs = validateWebhook(d);
    setErrors(errs);
    if (Object.keys(errs).length === 0) onSave(d);
  };
  const err = (k: keyof WebhookDraft) =>
    errors[k] && (
      <span className="danger-text small" id={`wh-err-${k}`} role="alert">
        {errors[k]}
      </span>
    );
  return (
    <form className="form" onSubmit={submit} noValidate data-testid="webhook-form">
      <label>
        Endpoint URL
        <input
          type="url"
          name="url"
          required
          maxLength={MAX_URL}
          placeholder="https://example.com/hooks/sightline"
          value={d.url}
          onChange={(e) => setD({ ...d, url: e.target.value })}
          aria-invalid={!!errors.url}
          aria-describedby={errors.url ? "wh-err-url" : undefined}
        />
        {err("url")}
      </label>
      <label>
        Description <span className="muted small">(optional)</span>
        <input
          type="text"
          name="description"
          maxLength={MAX_DESCRIPTION}
          placeholder="e.g. “Slack bridge”"
          value={d.description}
          onChange={(e) => setD({ ...d, description: e.target.value })}
          aria-invalid={!!errors.description}
        />
        {err("description")}
      </label>
      <fieldset className="wh-events" aria-describedby={errors.events ? "wh-err-events" : undefined}>
        <legend>Events</legend>
        {EVENTS.map((ev) => (
          <label key={ev.type} className="toggle">
            <input type="checkbox" name="events" value={ev.type} checked={d.events.includes(ev.type)} onChange={(e) => setD({ ...d, events: toggleEvent(d.events, ev.type, e.target.checked) })} />
            <span>
              <span className="wh-event-name">
                {ev.label} <code className="small">{ev.type}</code>
              </span>
              <small className="muted">{ev.help}</small>
            </span>
          </label>
        ))}
        {err("events")}
      </fieldset>
      <ErrorBox error={error} />
      <div className="row gap">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? "Saving…" : submitLabel}
        </button>
        <button type="button" className="btn btn-ghost" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

type WebhookVars = { params: { path: { webhookId: string } }; body: { url?: string; events?: string[]; description?: string; enabled?: boolean; updateMask?: string[] } };

/** applyMask is the webhook as an update will store it: the masked fields of body. */
function applyMask(w: Webhook, body: WebhookVars["body"]): Webhook {
  const mask = body.updateMask ?? [];
  const next = { ...w };
  if (mask.includes("url")) next.url = body.url;
  if (mask.includes("events")) next.events = body.events;
  if (mask.includes("description")) next.description = body.description;
  if (mask.includes("enabled")) {
    next.enabled = body.enabled;
    if (body.enabled) next.disabledReason = "";
  }
  return next;
}

function WebhookCard({
  siteId,
  webhook: w,
  admin,
  open,
  onToggle,
  onSecret,
  onChanged,
}: {
  siteId: string;
  webhook: Webhook;
  admin: boolean;
  open: boolean;
  onToggle: () => void;
  onSecret: (secret: string) => void;
  onChanged: () => void;
}) {
  const qc = useQueryClient();
  const path = { siteId, webhookId: w.id! };
  const [editing, setEditing] = useState(false);
  const deliveriesChanged = () => void qc.invalidateQueries({ queryKey: ["get", "/api/v1/sites/{siteId}/webhooks/{webhookId}/deliveries"] });
  const listKey = $api.queryOptions("get", LIST, { params: { path: { siteId } } }).queryKey;
  // Enable/disable and edits show at once, and are undone if refused.
  const update = $api.useMutation("patch", "/api/v1/sites/{siteId}/webhooks/{webhookId}", {
    ...optimisticList(qc, listKey, "webhooks", (x: Webhook, v: WebhookVars) => (x.id === v.params.path.webhookId ? applyMask(x, v.body) : x)),
    onSuccess: () => setEditing(false),
    onSettled: onChanged,
  });
  const remove = $api.useMutation("delete", "/api/v1/sites/{siteId}/webhooks/{webhookId}", { onSettled: onChanged });
  const rotate = $api.useMutation("post", "/api/v1/sites/{siteId}/webhooks/{webhookId}:rotate-secret", {
    onSuccess: (r) => onSecret(r.secret ?? ""),
    onSettled: onChanged,
  });
  const test = $api.useMutation("post", "/api/v1/sites/{siteId}/webhooks/{webhookId}:test", {
    onSuccess: () => {
      if (!open) onToggle();
      deliveriesChanged();
    },
  });
  const error = adminError(remove.error ?? rotate.error ?? test.error ?? (editing ? undefined : update.error));
  const banner = failingBanner(w);
  const setEnabled = (enabled: boolean) => update.mutate({ params: { path }, body: { enabled, updateMask: ["enabled"] } });
  const label = w.description || w.url;
  return (
    <section className="card wh-card" aria-labelledby={`wh-${w.id}`} data-testid="webhook" data-webhook-id={w.id}>
      <div className="row gap wh-head">
        <div className="grow wh-title">
          <h2 id={`wh-${w.id}`} className="ellipsis">
            {w.description || w.url}
          </h2>
          {w.description && <code className="small muted ellipsis">{w.url}</code>}
        </div>
        {w.enabled ? (
          <span className="badge badge-ok" data-testid="webhook-state">
            Enabled
          </span>
        ) : (
          <span className={`badge ${banner ? "badge-rage" : "badge-dead"}`} data-testid="webhook-state">
            {banner ? "Disabled: failing" : "Disabled"}
          </span>
        )}
      </div>
      {banner && (
        <div className="error-box" role="alert" data-testid="webhook-failing">
          <span>
            {banner}
            {w.failingSince && <> Failing since {formatDateTime(w.failingSince)}.</>}
          </span>
          {admin && (
            <button type="button" className="btn btn-small" onClick={() => setEnabled(true)} disabled={update.isPending}>
              Re-enable
            </button>
          )}
        </div>
      )}
      {editing ? (
        <WebhookForm
          initial={draftOf(w)}
          busy={update.isPending}
          error={adminError(update.error)}
          submitLabel="Save changes"
          onSave={(d) => {
            const mask = updateMask(draftOf(w), d);
            if (mask.length === 0) setEditing(false);
            else update.mutate({ params: { path }, body: { url: d.url.trim(), events: d.events, description: d.description.trim(), updateMask: mask } });
          }}
          onCancel={() => {
            update.reset();
            setEditing(false);
          }}
        />
      ) : (
        <>
          <p className="wh-events-list">
            {(w.events ?? []).map((e) => (
              <span key={e} className="chip" title={e}>
                {eventLabel(e)}
              </span>
            ))}
          </p>
          <p className="small muted">
            Added {formatRelative(w.createTime)}
            {!!w.consecutiveFailures && w.enabled && (
              <span className="warn">
                {" "}
                · {w.consecutiveFailures} failed deliveries in a row{w.failingSince ? ` since ${formatDateTime(w.failingSince)}` : ""}
              </span>
            )}
            {w.previousSecretExpireTime && Date.parse(w.previousSecretExpireTime) > Date.now() && <> · the previous secret works until {formatDateTime(w.previousSecretExpireTime)}</>}
          </p>
          <ErrorBox error={error} />
          <div className="row gap wh-actions">
            <button type="button" className="btn btn-small" aria-expanded={open} aria-controls={`wh-log-${w.id}`} onClick={onToggle} data-testid="toggle-deliveries">
              {open ? "Hide deliveries" : "Deliveries"}
            </button>
            {admin && (
              <>
                <button type="button" className="btn btn-small" onClick={() => test.mutate({ params: { path }, body: {} })} disabled={test.isPending || !w.enabled}>
                  {test.isPending ? "Sending…" : "Send test event"}
                </button>
                <button type="button" className="btn btn-small btn-ghost" onClick={() => setEditing(true)}>
                  Edit
                </button>
                {w.enabled ? (
                  <button type="button" className="btn btn-small btn-ghost" onClick={() => setEnabled(false)} disabled={update.isPending}>
                    Disable
                  </button>
                ) : (
                  !banner && (
                    <button type="button" className="btn btn-small btn-ghost" onClick={() => setEnabled(true)} disabled={update.isPending}>
                      Enable
                    </button>
                  )
                )}
                <button
                  type="button"
                  className="btn btn-small btn-ghost"
                  disabled={rotate.isPending}
                  onClick={() => {
                    if (window.confirm(`Make a new signing secret for ${label}?\n\nThe old one keeps working for 24 hours.`)) rotate.mutate({ params: { path }, body: {} });
                  }}
                >
                  Rotate secret
                </button>
                <button
                  type="button"
                  className="btn btn-small btn-ghost danger-text"
                  disabled={remove.isPending}
                  onClick={() => {
                    if (window.confirm(`Delete the webhook ${label}?\n\nIts delivery log goes with it; queued deliveries are not sent.`)) remove.mutate({ params: { path } });
                  }}
                >
                  Delete
                </button>
              </>
            )}
          </div>
        </>
      )}
      {open && <DeliveryLog id={`wh-log-${w.id}`} siteId={siteId} webhookId={w.id!} admin={admin} />}
    </section>
  );
}

const DELIVERY_PAGE = 20;

function DeliveryLog({ id, siteId, webhookId, admin }: { id: string; siteId: string; webhookId: string; admin: boolean }) {
  const qc = useQueryClient();
  const pages = usePages();
  const pageToken = pages.pageToken;
  const [expanded, setExpanded] = useState<string>();
  const log = $api.useQuery(
    "get",
    "/api/v1/sites/{siteId}/webhooks/{webhookId}/deliveries",
    { params: { path: { siteId, webhookId }, query: { pageSize: DELIVERY_PAGE, pageToken: pageToken || undefined } } },
    // Poll while a delivery on the page may still change.
    { refetchInterval: (q) => ((q.state.data?.deliveries ?? []).some(inFlight) ? 2000 : false) },
  );
  const redeliver = $api.useMutation("post", "/api/v1/sites/{siteId}/webhook-deliveries/{deliveryId}:redeliver", {
    onSuccess: () => {
      pages.reset();
      void qc.invalidateQueries({ queryKey: ["get", "/api/v1/sites/{siteId}/webhooks/{webhookId}/deliveries"] });
    },
  });
  const list: Delivery[] = log.data?.deliveries ?? [];
  return (
    <div id={id} className="wh-log" data-testid="delivery-log">
      <div className="row gap">
        <h3 className="grow">Deliveries</h3>
        <RefreshButton query={log} className="btn btn-small btn-ghost" />
      </div>
      <ErrorBox error={adminError(redeliver.error)} />
      {!log.data ? (
        <QueryStatus query={log} />
      ) : list.length === 0 && pages.first ? (
        <p className="muted" data-testid="deliveries-empty">
          Nothing sent yet.{admin ? " “Send test event” posts a webhook.test event." : ""}
        </p>
      ) : (
        <>
          <table className="table wh-table">
            <thead>
              <tr>
                <th>State</th>
                <th>Event</th>
                <th>Attempts</th>
                <th>Status</th>
                <th>Took</th>
                <th>Created</th>
                <th>Next attempt / last error</th>
                <th>
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((d) => {
                const st = stateOf(d);
                const isOpen = expanded === d.id;
                return (
                  <Fragment key={d.id}>
                    <tr data-testid="delivery" data-state={d.state} className={isOpen ? "row-open" : undefined}>
                      <td>
                        <span className={`badge ${st.badge}`} data-testid="delivery-state">
                          {st.label}
                        </span>
                      </td>
                      <td>{eventLabel(d.eventType)}</td>
                      <td className="num">{d.attempts ?? 0}</td>
                      <td className="num" data-testid="delivery-status">
                        {statusText(d)}
                      </td>
                      <td className="num">{d.attempts ? `${d.lastDurationMs ?? 0} ms` : "–"}</td>
                      <td className="muted">{formatDateTime(d.createTime)}</td>
                      <td className="wh-error">
                        {d.state === "DELIVERY_STATE_RETRYING" && d.nextAttemptTime && <span>next {formatDateTime(d.nextAttemptTime)}</span>}
                        {d.lastError && (
                          <span className="danger-text small ellipsis" title={d.lastError} data-testid="delivery-error">
                            {d.lastError}
                          </span>
                        )}
                      </td>
                      <td className="wh-row-actions">
                        <button
                          type="button"
                          className="btn btn-ghost btn-small"
                          aria-expanded={isOpen}
                          aria-controls={`dl-${d.id}`}
                          onClick={() => setExpanded(isOpen ? undefined : d.id)}
                          aria-label={`${isOpen ? "Hide" : "Show"} the payload of delivery ${d.id}`}
                        >
                          {isOpen ? "Hide" : "Payload"}
                        </button>
                        {admin && (
                          <button
                            type="button"
                            className="btn btn-small"
                            disabled={redeliver.isPending}
                            onClick={() => redeliver.mutate({ params: { path: { siteId, deliveryId: d.id! } }, body: {} })}
                            aria-label={`Redeliver delivery ${d.id}`}
                          >
                            Redeliver
                          </button>
                        )}
                      </td>
                    </tr>
                    {isOpen && (
                      <tr id={`dl-${d.id}`} className="wh-detail">
                        <td colSpan={8}>
                          <dl className="stats wh-meta">
                            <div className="stat">
                              <dt>webhook-id</dt>
                              <dd>
                                <code>{d.messageId}</code>
                              </dd>
                            </div>
                            {d.lastAttemptTime && (
                              <div className="stat">
                                <dt>Last attempt</dt>
                                <dd>{formatDateTime(d.lastAttemptTime)}</dd>
                              </div>
                            )}
                          </dl>
                          <h4>Payload</h4>
                          <pre className="code-block" data-testid="delivery-payload">
                            {prettyJson(d.payload)}
                          </pre>
                          <h4>Receiver's response</h4>
                          <pre className="code-block" data-testid="delivery-response">
                            {d.lastResponse || (d.attempts ? "(empty)" : "(not attempted yet)")}
                          </pre>
                          {d.lastError && <p className="danger-text">{d.lastError}</p>}
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
          <Pager pages={pages} next={log.data.nextPageToken} />
        </>
      )}
    </div>
  );
}

function SigningHelp() {
  return (
    <details className="card wh-help">
      <summary>Checking signatures</summary>
      <p className="small">
        Each request carries <code>webhook-id</code>, <code>webhook-timestamp</code> and <code>webhook-signature</code> headers (the{" "}
        <a href="https://www.standardwebhooks.com/" target="_blank" rel="noreferrer">
          Standard Webhooks
        </a>{" "}
        scheme). The signature is <code>v1,</code> followed by the base64 HMAC-SHA256 of <code>{"${webhook-id}.${webhook-timestamp}.${body}"}</code>, keyed with the
        base64-decoded part of the secret after <code>whsec_</code>. After a rotation the header holds one signature per secret, separated by spaces. Failed
        deliveries are retried with growing pauses for more than a day; a repeated <code>webhook-id</code> is the same event.
      </p>
    </details>
  );
}
