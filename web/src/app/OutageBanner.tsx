import { useEffect, useState } from "react";
import { useApp } from "./AppContext";
import { sentence } from "../lib/format";

/**
 * OutageBanner says that part of Sightline is unavailable, in the server's
 * words, and that the dashboard keeps checking; it goes away by itself when
 * the API answers again. Maintenance mode has its own banner.
 */
export function OutageBanner() {
  const { outage, checkNow } = useApp();
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!outage) return;
    const t = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(t);
  }, [outage]);
  if (!outage) return null;
  const secs = outage.nextCheckAt === undefined ? undefined : Math.max(1, Math.ceil((outage.nextCheckAt - now) / 1000));
  return (
    <div className="maintenance outage" role="alert" data-testid="outage-banner">
      <strong>Sightline is partly unavailable</strong>
      <span data-testid="outage-message">{sentence(outage.message)}</span>
      <span className="outage-retry" data-testid="outage-retry">
        You stay signed in and what's loaded stays on screen; changes may not save until this clears.{" "}
        {secs === undefined ? "Checking again…" : `Checking again in ${secs} s.`}
      </span>
      <button className="btn btn-small" onClick={checkNow} disabled={secs === undefined}>
        Retry now
      </button>
    </div>
  );
}
