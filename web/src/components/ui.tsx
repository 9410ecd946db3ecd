import { useState, type ReactNode } from "react";
import { ApiError, isUnavailable } from "../api/client";

export function Spinner({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="spinner" role="status">
      <span className="spinner-dot" aria-hidden />
      {label}
    </div>
  );
}

/** errorMessage reads any thrown value for people. */
function errorMessage(error: unknown): string {
  if (typeof error === "string") return error;
  if (error instanceof Error) return error.message;
  return "Something went wrong.";
}

/** ErrorBox is the one way an error shows: its message, the gateway's trace reference, and Retry when given. */
export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div className="error-box" role="alert">
      <span>
        {errorMessage(error)}
        {error instanceof ApiError && error.traceId && (
          <small className="trace" title="Give this reference to your administrator">
            {" "}
            (ref {error.traceId.slice(0, 16)})
          </small>
        )}
      </span>
      {onRetry && (
        <button className="btn btn-small" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

/**
 * QueryStatus stands in for a query's data while there is none: a spinner
 * while it loads, and while part of Sightline is unavailable (the outage
 * banner says so and the query is re-read on recovery) rather than an error
 * page; otherwise the ErrorBox with Retry.
 */
export function QueryStatus({ query, label }: { query: { error: unknown; refetch: () => unknown }; label?: string }) {
  if (!query.error) return <Spinner label={label} />;
  if (isUnavailable(query.error)) return <Spinner label="Waiting for Sightline to answer…" />;
  return <ErrorBox error={query.error} onRetry={() => void query.refetch()} />;
}

/** RefreshButton reads a query again; it is disabled while a read is under way. */
export function RefreshButton({ query, className = "btn" }: { query: { isFetching: boolean; refetch: () => unknown }; className?: string }) {
  return (
    <button type="button" className={className} onClick={() => void query.refetch()} disabled={query.isFetching}>
      Refresh
    </button>
  );
}

export function EmptyState({
  title,
  children,
  action,
  testId,
  icon = "◎",
}: {
  title: string;
  children?: ReactNode;
  action?: ReactNode;
  testId?: string;
  icon?: string;
}) {
  return (
    <div className="empty" data-testid={testId}>
      <div className="empty-icon" aria-hidden>
        {icon}
      </div>
      <h3>{title}</h3>
      {children && <div className="empty-text">{children}</div>}
      {action && <div className="empty-action">{action}</div>}
    </div>
  );
}

export function CopyButton({ text, testId, label = "Copy" }: { text: string; testId?: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard needs a secure context; fall back to a selection copy.
      const ta = document.createElement("textarea");
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      document.execCommand("copy");
      ta.remove();
    }
    setCopied(true);
    window.setTimeout(() => setCopied(false), 1800);
  };
  return (
    <button type="button" className="btn btn-small" onClick={copy} data-testid={testId}>
      {copied ? "Copied ✓" : label}
    </button>
  );
}

export function PageHeader({ title, subtitle, actions }: { title: ReactNode; subtitle?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle && <p className="muted">{subtitle}</p>}
      </div>
      {actions && <div className="page-actions">{actions}</div>}
    </div>
  );
}
