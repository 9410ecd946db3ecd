import { useState, type FormEvent } from "react";
import { Link, Navigate, useNavigate, useSearchParams } from "react-router";
import { $api } from "../api/query";
import { useApp } from "../app/AppContext";
import { ErrorBox, Spinner } from "../components/ui";
import { limitsSummary } from "../lib/limits";
import { isUnverified, rememberNext, safeNext } from "./authLinks";

export function AuthFrame({ title, subtitle, children }: { title: string; subtitle?: string; children: React.ReactNode }) {
  const { config } = useApp();
  return (
    <div className="auth">
      <div className="auth-card">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden>
            ◉
          </span>
          Sightline
        </div>
        <h1>{title}</h1>
        {subtitle && <p className="muted">{subtitle}</p>}
        {children}
      </div>
      <p className="muted auth-foot">
        Session recordings you host yourself{config?.version ? ` · ${config.version}` : ""}
      </p>
    </div>
  );
}

export function LogIn() {
  const { me, refreshMe, config } = useApp();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const login = $api.useMutation("post", "/api/v1/auth/login", {
    // Pending until the user is known, so the form stays busy until it leaves.
    onSuccess: async () => {
      await refreshMe();
      navigate(safeNext(params.get("next")), { replace: true });
    },
  });
  if (me) return <Navigate to={safeNext(params.get("next"))} replace />;
  // Nobody can log in before the first sign-up.
  if (config?.firstRun) return <Navigate to={`/signup${params.toString() ? `?${params}` : ""}`} replace />;
  const { error, isPending: busy } = login;
  const unverified = isUnverified(error);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    login.mutate({ body: { email, password } });
  };

  return (
    <AuthFrame title="Log in" subtitle="Welcome back.">
      <form onSubmit={submit} className="form" data-testid="login-form">
        <label>
          E-mail
          <input type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} name="email" />
        </label>
        <label>
          Password
          <input
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            name="password"
          />
        </label>
        {unverified ? (
          <div className="card" role="status" data-testid="login-unverified">
            <p>
              Please confirm your e-mail address first. We have just sent a new link to <strong>{email}</strong>; open it and
              you are in.
            </p>
            <ResendLink email={email} />
          </div>
        ) : (
          <ErrorBox error={error} />
        )}
        <button className="btn btn-primary btn-block" disabled={busy} type="submit">
          {busy ? "Logging in…" : "Log in"}
        </button>
        <p className="muted small center">
          <Link to="/forgot-password" data-testid="forgot-password-link">
            Forgot password?
          </Link>
        </p>
      </form>
      {config?.signupEnabled !== false && (
        <p className="muted center">
          New to Sightline? <Link to={`/signup${params.toString() ? `?${params}` : ""}`}>Create an account</Link>
        </p>
      )}
    </AuthFrame>
  );
}

export function SignUp() {
  const { me, refreshMe, refreshConfig, config } = useApp();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const [form, setForm] = useState({ name: "", email: "", password: "", organizationName: "" });
  // The address a verification link went to, once sign-up asked for one.
  const [sentTo, setSentTo] = useState("");
  const signup = $api.useMutation("post", "/api/v1/auth/signup", {
    onSuccess: async (r) => {
      if (r.verificationRequired) {
        rememberNext(params.get("next"));
        setSentTo(form.email.trim());
        return;
      }
      await refreshMe();
      refreshConfig(); // no longer a first run
      const next = params.get("next");
      navigate(next ? safeNext(next) : `/o/${r.organization?.id}/sites?welcome=1`, { replace: true });
    },
  });
  if (me) return <Navigate to={safeNext(params.get("next"))} replace />;
  const { error, isPending: busy } = signup;
  const set = (k: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement>) => setForm({ ...form, [k]: e.target.value });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    signup.mutate({ body: { ...form, organizationName: form.organizationName || `${form.name || form.email.split("@")[0]}'s organisation` } });
  };

  if (config && config.signupEnabled === false) {
    return (
      <AuthFrame title="Sign-up is closed" subtitle="Ask an administrator of this Sightline for an invitation.">
        <Link to="/login">Log in</Link>
      </AuthFrame>
    );
  }
  if (sentTo) {
    return (
      <CheckEmail
        email={sentTo}
        onWrongAddress={() => {
          setSentTo("");
          signup.reset();
        }}
      />
    );
  }
  // Only an operator's limits are worth a word; a self-hosted instance has none.
  const limits = limitsSummary(config?.defaultPlan);
  const firstRun = !!config?.firstRun;
  return (
    <AuthFrame
      title={firstRun ? "Set up Sightline" : "Create your account"}
      subtitle={firstRun ? undefined : "Start recording your site in two minutes."}
    >
      {firstRun && (
        <p className="card" role="note" data-testid="first-run-note">
          This Sightline has no account yet. The account you create now is the instance&apos;s <strong>operator</strong>: it
          can see instance-wide settings and add people later.
        </p>
      )}
      <form onSubmit={submit} className="form" data-testid="signup-form">
        <label>
          Your name
          <input autoComplete="name" value={form.name} onChange={set("name")} name="name" required />
        </label>
        <label>
          Work e-mail
          <input type="email" autoComplete="email" value={form.email} onChange={set("email")} name="email" required />
        </label>
        <label>
          Password
          <input
            type="password"
            autoComplete="new-password"
            minLength={10}
            value={form.password}
            onChange={set("password")}
            name="password"
            required
          />
          <small className="muted">At least 10 characters.</small>
        </label>
        <label>
          <span>
            Organisation <small className="muted">(optional)</small>
          </span>
          <input value={form.organizationName} onChange={set("organizationName")} name="organizationName" placeholder="Acme Inc." />
        </label>
        <ErrorBox error={error} />
        <button className="btn btn-primary btn-block" disabled={busy} type="submit">
          {busy ? "Creating account…" : "Create account"}
        </button>
        {limits && (
          <p className="muted small center" data-testid="signup-limits">
            {limits}
          </p>
        )}
      </form>
      {!firstRun && (
        <p className="muted center">
          Already have an account? <Link to={`/login${params.toString() ? `?${params}` : ""}`}>Log in</Link>
        </p>
      )}
    </AuthFrame>
  );
}

export function AcceptInvite() {
  const { me, loading, refreshMe } = useApp();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const token = params.get("token") ?? "";
  const join = $api.useMutation("post", "/api/v1/invitations:accept", {
    onSuccess: async (r) => {
      await refreshMe();
      navigate(`/o/${r.membership?.organizationId}`);
    },
  });
  const { error, isPending: busy } = join;
  if (loading) return <Spinner />;
  if (!me) {
    const next = encodeURIComponent(`/invite?token=${encodeURIComponent(token)}`);
    return (
      <AuthFrame title="You've been invited" subtitle="Log in or create an account to join the team.">
        <div className="row gap">
          <Link className="btn btn-primary" to={`/signup?next=${next}`}>
            Create account
          </Link>
          <Link className="btn" to={`/login?next=${next}`}>
            Log in
          </Link>
        </div>
      </AuthFrame>
    );
  }
  const accept = () => join.mutate({ body: { token } });
  return (
    <AuthFrame title="Join the team" subtitle={`You're logged in as ${me.user?.email}.`}>
      <ErrorBox error={error} />
      <button className="btn btn-primary btn-block" onClick={accept} disabled={busy || !token}>
        {busy ? "Joining…" : "Accept invitation"}
      </button>
    </AuthFrame>
  );
}

/**
 * ResendLink asks for another verification link to email. The answer is
 * the same whether or not the address has an account, so it only says sent.
 */
export function ResendLink({ email }: { email: string }) {
  const resend = $api.useMutation("post", "/api/v1/auth/resend-verification");
  return (
    <div className="row gap">
      <button
        type="button"
        className="btn btn-small"
        disabled={resend.isPending || !email}
        onClick={() => resend.mutate({ body: { email } })}
        data-testid="resend-verification"
      >
        {resend.isPending ? "Sending…" : "Send the link again"}
      </button>
      {resend.isSuccess && (
        <span className="muted small" role="status">
          Sent. It can take a minute to arrive; check your spam folder too.
        </span>
      )}
      <ErrorBox error={resend.error} />
    </div>
  );
}

/** CheckEmail is what sign-up shows once a verification link is on its way. */
function CheckEmail({ email, onWrongAddress }: { email: string; onWrongAddress: () => void }) {
  return (
    <AuthFrame title="Check your e-mail" subtitle="One step left: confirm your address.">
      <div className="form" data-testid="check-email">
        <p>
          We sent a link to <strong data-testid="check-email-address">{email}</strong>. Open it to confirm your address and
          log in; it works for 24 hours.
        </p>
        <p className="muted small">
          If this address already has an account, its owner got an e-mail instead; log in or reset the password.
        </p>
        <ResendLink email={email} />
        <p className="muted small">
          Wrong address?{" "}
          <button type="button" className="btn btn-ghost btn-small" onClick={onWrongAddress} data-testid="wrong-address">
            Sign up again
          </button>
        </p>
      </div>
      <p className="muted center">
        <Link to="/login">Log in</Link>
      </p>
    </AuthFrame>
  );
}
