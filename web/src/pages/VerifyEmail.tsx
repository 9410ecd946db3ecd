// The link of the verification e-mail: confirms the address with the
// link's token (which also logs the user in), then goes into the dashboard.
// Unlike unsubscribing, confirming needs no button: a scanner that opens the
// link runs no script, and confirming twice is harmless.
import { useEffect, useRef, useState } from "react";
import { Link, useLocation, useNavigate } from "react-router";
import { $api } from "../api/query";
import { useApp } from "../app/AppContext";
import { ErrorBox, Spinner } from "../components/ui";
import { AuthFrame, ResendLink } from "./Auth";
import { linkToken, takeNext } from "./authLinks";

export default function VerifyEmail() {
  const { refreshMe } = useApp();
  const { search } = useLocation();
  const navigate = useNavigate();
  const token = linkToken(search);
  const [email, setEmail] = useState("");
  const verify = $api.useMutation("post", "/api/v1/auth/verify-email", {
    onSuccess: async () => {
      await refreshMe();
      navigate(takeNext(), { replace: true });
    },
  });
  // Once per token, even when React runs effects twice in development.
  const sent = useRef("");
  useEffect(() => {
    if (token && sent.current !== token) {
      sent.current = token;
      verify.mutate({ body: { token } });
    }
  }, [token, verify]);

  if (token && !verify.error) {
    return (
      <AuthFrame title="Confirming your address">
        <div data-testid="verify-email-pending">
          <Spinner label="Confirming your e-mail address…" />
        </div>
      </AuthFrame>
    );
  }
  return (
    <AuthFrame title="This link does not work" subtitle="Ask for a new one below.">
      <div className="form" data-testid="verify-email-failed">
        {token ? (
          <ErrorBox error={verify.error} />
        ) : (
          <div className="error-box" role="alert">
            This confirmation link is incomplete. Open the link from the e-mail again, or ask for a new one.
          </div>
        )}
        <label>
          Your e-mail
          <input type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} name="email" />
        </label>
        <ResendLink email={email.trim()} />
      </div>
      <p className="muted center">
        Already confirmed? <Link to="/login">Log in</Link>
      </p>
    </AuthFrame>
  );
}
