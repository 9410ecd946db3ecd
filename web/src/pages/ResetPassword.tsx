// The link of the password-reset e-mail: choose a new password. Every other
// session of the account is signed out, and this browser is logged in.
import { useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate } from "react-router";
import { $api } from "../api/query";
import { useApp } from "../app/AppContext";
import { ErrorBox } from "../components/ui";
import { AuthFrame } from "./Auth";
import { linkToken, passwordProblem } from "./authLinks";

export default function ResetPassword() {
  const { refreshMe } = useApp();
  const { search } = useLocation();
  const navigate = useNavigate();
  const token = linkToken(search);
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [problem, setProblem] = useState("");
  const reset = $api.useMutation("post", "/api/v1/auth/reset-password", {
    onSuccess: async () => {
      await refreshMe();
      navigate("/", { replace: true });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const p = passwordProblem(password, again);
    setProblem(p);
    if (!p) reset.mutate({ body: { token, password } });
  };
  if (!token) {
    return (
      <AuthFrame title="This link is incomplete">
        <div className="error-box" role="alert" data-testid="reset-password-bad-link">
          Open the link from the e-mail again, or ask for a new one.
        </div>
        <p className="muted center">
          <Link to="/forgot-password">Ask for a new link</Link>
        </p>
      </AuthFrame>
    );
  }
  return (
    <AuthFrame title="Choose a new password" subtitle="You will be logged out everywhere else.">
      <form onSubmit={submit} className="form" data-testid="reset-password-form">
        <label>
          New password
          <input
            type="password"
            autoComplete="new-password"
            minLength={10}
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            name="password"
          />
          <small className="muted">At least 10 characters.</small>
        </label>
        <label>
          Repeat it
          <input type="password" autoComplete="new-password" required value={again} onChange={(e) => setAgain(e.target.value)} name="again" />
        </label>
        {problem && (
          <div className="error-box" role="alert">
            {problem}
          </div>
        )}
        <ErrorBox error={reset.error} />
        <button className="btn btn-primary btn-block" disabled={reset.isPending} type="submit">
          {reset.isPending ? "Saving…" : "Set password and log in"}
        </button>
      </form>
      <p className="muted center">
        Link expired? <Link to="/forgot-password">Ask for a new one</Link>
      </p>
    </AuthFrame>
  );
}
