// The operator's e-mail outbox: without an SMTP server, notify writes every
// e-mail to <data-dir>/outbox, and this page lists and shows them. The HTML
// part is the e-mail's own markup: it is shown in an iframe sandboxed with
// no permissions at all (no scripts, no forms, an opaque origin).
import { useState } from "react";
import { useSearchParams } from "react-router";
import { $api } from "../api/query";
import { EmptyState, PageHeader, QueryStatus, RefreshButton } from "../components/ui";
import { formatDateTime } from "../lib/format";
import { kindLabel, type OutboxEmail } from "../notify/mail";
import { Pager, usePages } from "../notify/Pager";
import "../notify/notify.css";

const PAGE_SIZE = 50;

export default function Outbox() {
  const [params, setParams] = useSearchParams();
  const openId = params.get("id") ?? "";
  const pages = usePages();
  const pageToken = pages.pageToken;
  const list = $api.useQuery("get", "/api/v1/admin/outbox", { params: { query: { pageSize: PAGE_SIZE, pageToken: pageToken || undefined } } });
  const emails = list.data?.emails ?? [];
  const open = (id: string | undefined) => {
    const next = new URLSearchParams(params);
    if (id) next.set("id", id);
    else next.delete("id");
    setParams(next);
  };
  return (
    <div data-testid="outbox-page">
      <PageHeader
        title="E-mail outbox"
        subtitle="E-mails Sightline wrote to its outbox directory because no SMTP server is configured."
        actions={<RefreshButton query={list} />}
      />
      {!list.data ? (
        <QueryStatus query={list} />
      ) : !list.data.outboxEnabled ? (
        <EmptyState title="E-mail goes to the SMTP server" testId="outbox-smtp" icon="✉">
          An SMTP server is configured (<code>notify.smtp.host</code>), so e-mails are sent and nothing is kept here.
        </EmptyState>
      ) : emails.length === 0 && pages.first ? (
        <EmptyState title="No e-mails yet" testId="outbox-empty" icon="✉">
          Sign-ups, password resets, invitations, alerts and digests appear here until an SMTP server is configured.
        </EmptyState>
      ) : (
        <div className="outbox">
          <section className="card outbox-list" aria-label="E-mails">
            <table className="table" data-testid="outbox-list">
              <thead>
                <tr>
                  <th>To</th>
                  <th>Subject</th>
                  <th>Kind</th>
                  <th>Time</th>
                </tr>
              </thead>
              <tbody>
                {emails.map((m) => (
                  <tr key={m.id} className={m.id === openId ? "row-open" : undefined} data-testid="outbox-row">
                    <td className="ellipsis">{m.to}</td>
                    <td>
                      <button type="button" className="link-button" onClick={() => open(m.id)} aria-current={m.id === openId ? "true" : undefined}>
                        {m.subject || "(no subject)"}
                      </button>
                    </td>
                    <td>
                      <span className="badge badge-dead">{kindLabel(m.kind)}</span>
                    </td>
                    <td className="muted">{formatDateTime(m.createTime)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager pages={pages} next={list.data.nextPageToken} />
          </section>
          {openId && <EmailView id={openId} onClose={() => open(undefined)} />}
        </div>
      )}
    </div>
  );
}

function EmailView({ id, onClose }: { id: string; onClose: () => void }) {
  const email = $api.useQuery("get", "/api/v1/admin/outbox/{id}", { params: { path: { id } } });
  const [tab, setTab] = useState<"html" | "text">("html");
  const m: OutboxEmail | undefined = email.data?.email;
  return (
    <section className="card outbox-view" aria-labelledby="outbox-subject" data-testid="outbox-email">
      {!m ? (
        <QueryStatus query={email} />
      ) : (
        <>
          <div className="row gap">
            <h2 id="outbox-subject" className="grow">
              {m.subject || "(no subject)"}
            </h2>
            <button type="button" className="btn btn-ghost btn-small" onClick={onClose}>
              Close
            </button>
          </div>
          <dl className="stats outbox-headers">
            <div className="stat">
              <dt>To</dt>
              <dd>{m.to}</dd>
            </div>
            <div className="stat">
              <dt>Kind</dt>
              <dd>{kindLabel(m.kind)}</dd>
            </div>
            <div className="stat">
              <dt>Written</dt>
              <dd>{formatDateTime(m.createTime)}</dd>
            </div>
            <div className="stat">
              <dt>File</dt>
              <dd>
                <code>{m.id}</code>
              </dd>
            </div>
          </dl>
          <div className="tabs" role="tablist" aria-label="Part of the e-mail">
            {(["html", "text"] as const).map((k) => (
              <button
                key={k}
                type="button"
                role="tab"
                id={`outbox-tab-${k}`}
                aria-selected={tab === k}
                aria-controls={`outbox-panel-${k}`}
                tabIndex={tab === k ? 0 : -1}
                className={tab === k ? "tab-on" : undefined}
                onClick={() => setTab(k)}
                onKeyDown={(e) => {
                  if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
                    const next = tab === "html" ? "text" : "html";
                    setTab(next);
                    document.getElementById(`outbox-tab-${next}`)?.focus();
                  }
                }}
              >
                {k === "html" ? "HTML" : "Text"}
              </button>
            ))}
          </div>
          <div role="tabpanel" id={`outbox-panel-${tab}`} aria-labelledby={`outbox-tab-${tab}`} className="outbox-body">
            {tab === "html" ? (
              m.htmlBody ? (
                // sandbox="": no scripts, forms, popups or same-origin access for the e-mail's markup.
                <iframe sandbox="" srcDoc={m.htmlBody} title={`HTML part of “${m.subject ?? ""}”`} className="outbox-frame" data-testid="outbox-html" />
              ) : (
                <p className="muted">This e-mail has no HTML part.</p>
              )
            ) : (
              <pre className="code-block outbox-text" data-testid="outbox-text">
                {m.textBody || "This e-mail has no text part."}
              </pre>
            )}
          </div>
        </>
      )}
    </section>
  );
}
