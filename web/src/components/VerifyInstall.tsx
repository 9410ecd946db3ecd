import { useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { $api } from "../api/query";
import { QueryStatus } from "./ui";
import { formatRelative, plural } from "../lib/format";
import { seen, settled, type Seen } from "../lib/verify";
import type { Schemas } from "../api/client";

type Activity = Schemas["v1GetSiteActivityResponse"];
type Realtime = Schemas["v1GetRealtimeResponse"];

const POLL_MS = 3000;
const POLL_FOR_MS = 10 * 60_000;

/**
 * VerifyInstall is "2. Verify the installation" of a site's setup: it reads
 * the site's activity (the latest stored recording batch) and its realtime
 * traffic (page views, which the tracker sends for every counted visitor,
 * recorded or not), every POLL_MS from the click until a recording arrives —
 * or page views do on a site that records nothing — or POLL_FOR_MS pass.
 */
export function VerifyInstall({ siteId }: { siteId: string }) {
  const [verifySince, setVerifySince] = useState<number>();
  const path = { params: { path: { siteId } } };
  const settings = $api.useQuery("get", "/api/v1/sites/{siteId}/settings", path, { refetchOnWindowFocus: false });
  // Each poll decides from the latest of both answers, read from the cache
  // when it is due; a function also reads the deadline then, not only at renders.
  const qc = useQueryClient();
  const latest = () =>
    seen(
      qc.getQueryData<Activity>($api.queryOptions("get", "/api/v1/sites/{siteId}/activity", path).queryKey),
      qc.getQueryData<Realtime>($api.queryOptions("get", "/api/v1/sites/{siteId}/traffic/realtime", path).queryKey),
      settings.data?.settings,
    );
  const within = () => verifySince !== undefined && Date.now() - verifySince < POLL_FOR_MS;
  // Polls in a background tab too: the newcomer is in their site's tab
  // while the first data arrives, and comes back to a verdict.
  const act = $api.useQuery("get", "/api/v1/sites/{siteId}/activity", path, {
    refetchInterval: () => (within() && !settled(latest()) ? POLL_MS : false),
    refetchIntervalInBackground: true,
  });
  // Once page views came, only a batch can settle it: the activity alone is polled.
  const rt = $api.useQuery("get", "/api/v1/sites/{siteId}/traffic/realtime", path, {
    refetchInterval: () => (within() && latest().kind === "none" ? POLL_MS : false),
    refetchIntervalInBackground: true,
  });
  const now = seen(act.data, rt.data, settings.data?.settings);
  const verifying = within() && !settled(now);
  const verify = () => {
    setVerifySince(Date.now());
    void act.refetch();
    void rt.refetch();
  };
  const state = now.kind !== "none" ? "ok" : verifying ? "waiting" : "idle";
  return (
    <>
      <div className="verify" data-testid="verify-status" data-state={state} data-seen={now.kind}>
        {now.kind !== "none" ? (
          <div className="verify-ok">
            <span className="dot dot-ok" /> <Verdict s={now} watching={verifying} />
          </div>
        ) : verifying ? (
          <div className="verify-wait">
            <span className="dot dot-wait" /> Waiting for the first data from your site… (checking every few seconds)
          </div>
        ) : (
          <div>
            <span className="dot" />{" "}
            {act.data?.lastChunkTime ? `Last recording data ${formatRelative(act.data.lastChunkTime)}.` : "No data received yet."}
          </div>
        )}
        <button className="btn" onClick={verify} disabled={verifying} data-testid="verify-install">
          {verifying ? "Checking…" : "Verify installation"}
        </button>
      </div>
      {act.error && !act.data && <QueryStatus query={act} />}
      {state !== "ok" && (
        <details className="muted small">
          <summary>Nothing arriving?</summary>
          <ul>
            <li>The page's domain must be in the list of domains below (e.g. <code>www.</code> is a different host — use a wildcard).</li>
            <li>Visitors who send Do-Not-Track are not counted when "Respect Do-Not-Track" is on — turn it off to test.</li>
            <li>Ad blockers or a Content-Security-Policy on your site may block the script.</li>
          </ul>
        </details>
      )}
    </>
  );
}

function Verdict({ s, watching }: { s: Exclude<Seen, { kind: "none" }>; watching: boolean }) {
  if (s.kind === "recording") {
    return (
      <>
        Recording arrived — last batch {formatRelative(s.lastChunkTime)}, {plural(s.sessions24h, "session")} in the last 24 hours.
      </>
    );
  }
  const views = `Page views arrive — ${plural(s.pageViews, "page view")} in the last 5 minutes`;
  if (s.why === "off") return <>{views}. Recording is off for this site, so visits are counted but not recorded.</>;
  if (s.why === "unsampled") return <>{views}. Sampling is at 0%, so visits are counted but not recorded.</>;
  return (
    <>
      {views}, no recording yet: this visit may be sampled out, waiting for consent, or over the daily limit.
      {watching ? " Still watching for a recording…" : ""}
    </>
  );
}
