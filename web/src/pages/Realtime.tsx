// Trends → Realtime: who is on the site now — visitors of the last five
// minutes, their current pages, and page views per minute of the last half
// hour — updating by itself from the gateway's event stream (polling when
// the stream is unavailable).
import { useState } from "react";
import { Link } from "react-router";
import { EmptyState, ErrorBox, Spinner } from "../components/ui";
import { emptyQuery, toSearchParams } from "../lib/filters";
import { ChartTable, SeriesChart, ViewToggle, type Point } from "../traffic/Chart";
import { int, pagePath, validTimeZone } from "../traffic/query";
import { useRealtime } from "../traffic/realtime";
import { useSitePage } from "./Home";
import "../traffic/traffic.css";

export default function Realtime() {
  const { orgId, siteId, site } = useSitePage();
  const { data, mode, error } = useRealtime(siteId);
  const tz = validTimeZone(site.data?.site?.settings?.timeZone);
  const [asTable, setAsTable] = useState(false);
  const base = `/o/${orgId}/sites/${siteId}`;
  const perMinute = (data?.perMinute ?? []).map(int);
  const asOf = data?.asOf ? Date.parse(data.asOf) : Date.now();
  // Each value counts the minute that ends `ago` minutes before asOf; its bar stands over that minute, named in the site's time zone.
  const points: Point[] = perMinute.map((v, i) => {
    const ago = perMinute.length - 1 - i;
    const end = asOf - ago * 60_000;
    const clock = new Date(end).toLocaleTimeString("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit" });
    return { t: end - 30_000, long: `${ago === 0 ? "this minute" : `${ago} min ago`} (${clock})`, value: v };
  });
  const visitors = int(data?.visitors);
  const pages = data?.pages ?? [];
  return (
    <div className="tr-page" data-testid="realtime-page">
      <div className="page-header">
        <div>
          <h1>
            Realtime <span className="muted site-title">{site.data?.site?.name}</span>
          </h1>
          <p className="muted small">
            <span className={`tr-live-dot ${mode === "live" ? "on" : ""}`} aria-hidden />{" "}
            <span data-testid="rt-mode">{mode === "live" ? "Live" : mode === "polling" ? "Updating every 5 s" : "Connecting…"}</span>
            {data?.asOf && <> · as of {new Date(data.asOf).toLocaleTimeString()}</>}
          </p>
        </div>
        <div className="page-actions">
          <Link className="btn btn-small" to={`${base}/overview`}>
            Overview
          </Link>
        </div>
      </div>
      {error && !data ? <ErrorBox error={error} /> : null}
      {!data ? (
        <Spinner label="Listening…" />
      ) : (
        <>
          <div className="tr-tiles tr-tiles-rt">
            <div className="tr-tile card">
              <span className="tr-tile-label">Visitors now</span>
              <span className="tr-tile-value" data-testid="rt-visitors" aria-live="polite">
                {visitors.toLocaleString()}
              </span>
              <span className="muted small">with a page view or event in the last 5 minutes</span>
            </div>
            <div className="tr-tile card">
              <span className="tr-tile-label">Page views</span>
              <span className="tr-tile-value" data-testid="rt-pageviews">
                {int(data.pageViews).toLocaleString()}
              </span>
              <span className="muted small">in the last 5 minutes</span>
            </div>
          </div>
          <section className="card" aria-labelledby="rt-minutes-h">
            <div className="tr-card-head">
              <h2 id="rt-minutes-h" className="tr-h2">
                Page views per minute, last 30 minutes
              </h2>
              <ViewToggle asTable={asTable} onChange={setAsTable} testId="rt-view-table" />
            </div>
            {asTable ? (
              <ChartTable testId="rt-table" caption="Page views per minute, last 30 minutes" headers={["Minute", "Page views"]} rows={points.map((p) => [p.long, p.value]).reverse()} />
            ) : (
              <SeriesChart points={points} metric="Page views" kind="bars" testId="rt-chart" tz={tz} step={60} />
            )}
          </section>
          <section className="card" aria-labelledby="rt-pages-h">
            <h2 id="rt-pages-h" className="tr-h2">
              Current pages
            </h2>
            {pages.length === 0 ? (
              <EmptyState title="Nobody is on the site right now" icon="◌">
                Visitors appear here within seconds of opening a page with the Sightline snippet.
              </EmptyState>
            ) : (
              <table className="tr-breakdown" data-testid="rt-pages">
                <caption className="sr-only">Each visitor's latest page in the last 5 minutes</caption>
                <thead>
                  <tr>
                    <th scope="col">Page</th>
                    <th scope="col" className="num">
                      Visitors
                    </th>
                    <th scope="col" className="num">
                      <span className="sr-only">Recordings</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {pages.map((p) => {
                    const rq = { ...emptyQuery(), range: "24h" as const, visitedPage: { op: "equals" as const, value: p.page ?? "" } };
                    return (
                      <tr key={p.page} data-testid="rt-page-row">
                        <th scope="row" title={p.page}>
                          {pagePath(p.page ?? "")}
                        </th>
                        <td className="num">{int(p.visitors).toLocaleString()}</td>
                        <td className="num">
                          <Link to={`${base}/recordings?${toSearchParams(rq).toString()}`} className="tr-rec-link" aria-label={`Recordings of ${pagePath(p.page ?? "")} in the last 24 hours`} title="Recordings of this page, last 24 hours">
                            ▶
                          </Link>
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )}
          </section>
        </>
      )}
    </div>
  );
}
