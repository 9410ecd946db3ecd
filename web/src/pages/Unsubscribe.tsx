// The unsubscribe page of digest and alert e-mails: public, no log-in (the
// link's signed token is the credential). Opening the link changes nothing:
// mail scanners prefetch links, so only the button's POST unsubscribes.
import { Link, useLocation } from "react-router";
import { $api } from "../api/query";
import { useApp } from "../app/AppContext";
import { ErrorBox } from "../components/ui";
import { unsubscribedText, unsubscribeToken } from "../notify/mail";

export default function Unsubscribe() {
  const { config } = useApp();
  const { search } = useLocation();
  const token = unsubscribeToken(search);
  const unsubscribe = $api.useMutation("post", "/api/v1/unsubscribe");
  const done = unsubscribe.data;
  return (
    <div className="auth">
      <main className="auth-card" data-testid="unsubscribe-page">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden>
            ◉
          </span>
          Sightline
        </div>
        <h1>Unsubscribe</h1>
        {!token ? (
          <div className="error-box" role="alert" data-testid="unsubscribe-bad-link">
            This unsubscribe link is incomplete. Open the link from the e-mail again, or change your e-mails in the notification settings after logging in.
          </div>
        ) : done ? (
          <>
            <p role="status" data-testid="unsubscribe-done">
              {unsubscribedText(done)}
            </p>
            {done.siteId && (
              <p className="center">
                <Link to={`/sites/${encodeURIComponent(done.siteId)}/settings/notifications`}>Notification settings</Link>
              </p>
            )}
          </>
        ) : (
          <>
            <p className="muted">Stop these e-mails? You can turn them on again in the site's notification settings.</p>
            <ErrorBox error={unsubscribe.error} />
            <button
              type="button"
              className="btn btn-primary btn-block"
              disabled={unsubscribe.isPending}
              onClick={() => unsubscribe.mutate({ body: { token } })}
              data-testid="unsubscribe-button"
            >
              {unsubscribe.isPending ? "Unsubscribing…" : "Unsubscribe"}
            </button>
          </>
        )}
      </main>
      <p className="muted auth-foot">Sightline{config?.version ? ` · ${config.version}` : ""}</p>
    </div>
  );
}
