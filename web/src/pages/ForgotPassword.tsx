// "Forgot password?": e-mails a reset link. The answer is the same whether
// or not the address has an account, and so is the page.
import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { $api } from "../api/query";
import { ErrorBox } from "../components/ui";
import { AuthFrame } from "./Auth";

export default function ForgotPassword() {
  const [email, setEmail] = useState("");
  const [sentTo, setSentTo] = useState("");
  const request = $api.useMutation("post", "/api/v1/auth/forgot-password", {
    onSuccess: () => setSentTo(email.trim()),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    request.mutate({ body: { email: email.trim() } });
  };
  if (sentTo) {
    return (
      <AuthFrame title="Check your e-mail">
        <div className="form" data-testid="forgot-password-sent">
          <p>
            If <strong>{sentTo}</strong> has an account, we sent it a link to choose a new password. The link works for an
            hour, once.
          </p>
          <p className="muted small">Nothing after a few minutes? Check your spam folder, or try again.</p>
          <button type="button" className="btn btn-ghost btn-small" onClick={() => setSentTo("")}>
            Try another address
          </button>
        </div>
        <p className="muted center">
          <Link to="/login">Back to log in</Link>
        </p>
      </AuthFrame>
    );
  }
  return (
    <AuthFrame title="Forgot your password?" subtitle="We'll e-mail you a link to choose a new one.">
      <form onSubmit={submit} className="form" data-testid="forgot-password-form">
        <label>
          E-mail
          <input type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} name="email" />
        </label>
        <ErrorBox error={request.error} />
        <button className="btn btn-primary btn-block" disabled={request.isPending} type="submit">
          {request.isPending ? "Sending…" : "Send the link"}
        </button>
      </form>
      <p className="muted center">
        Remembered it? <Link to="/login">Log in</Link>
      </p>
    </AuthFrame>
  );
}
