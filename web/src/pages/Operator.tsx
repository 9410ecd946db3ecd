import type { ReactNode } from "react";
import { type Schemas } from "../api/client";
import { $api } from "../api/query";
import { PageHeader, QueryStatus, RefreshButton } from "../components/ui";
import { formatDateTime, formatDuration, formatRelative, parseDuration } from "../lib/format";

type Stats = Schemas["v1GetStatsResponse"];

/** Operator shows ingest's health for the instance's operators: spool, forwarder, dead letters, limit hits. */
export function Operator() {
  const stats = $api.useQuery("get", "/api/v1/admin/ingest/stats");
  return (
    <div className="narrow" data-testid="operator-page">
      <PageHeader
        title="Ingest & limits"
        subtitle="This instance's intake: what waits in the spool, delivery to recordings, what was refused."
        actions={<RefreshButton query={stats} />}
      />
      {stats.data ? <StatsView stats={stats.data} /> : <QueryStatus query={stats} />}
    </div>
  );
}

function StatsView({ stats }: { stats: Stats }) {
  const spool = stats.spool ?? {};
  const fwd = stats.forwarder ?? {};
  const held = num(spool.bytes);
  const max = num(spool.maxBytes);
  const hits = (stats.limitHits ?? []).filter((h) => num(h.count) > 0);
  return (
    <div className="stats-grid">
      <section className="card" aria-labelledby="op-spool">
        <h2 id="op-spool">Spool</h2>
        <dl className="stats">
          <Stat label="Records held">{count(spool.records)}</Stat>
          <Stat label="Bytes held">
            {bytes(held)}
            {max > 0 && ` of ${bytes(max)}`}
          </Stat>
          <Stat label="Oldest record">{spool.oldestRecordTime ? formatRelative(spool.oldestRecordTime) : "none waiting"}</Stat>
          <Stat label="Segments">{spool.segments ?? 0}</Stat>
        </dl>
        {max > 0 && <meter className="meter" min={0} max={max} value={held} high={max * 0.8} aria-label="Spool use" />}
      </section>
      <section className="card" aria-labelledby="op-forwarder">
        <h2 id="op-forwarder">
          Forwarder{" "}
          {fwd.stalled ? <span className="badge badge-rage">stalled</span> : <span className="badge badge-ok">delivering</span>}
        </h2>
        <dl className="stats">
          <Stat label="Delivered records">{count(fwd.deliveredRecords)}</Stat>
          <Stat label="Failed attempts">{count(fwd.failedAttempts)}</Stat>
          <Stat label="Lag">{formatDuration(parseDuration(fwd.lag))}</Stat>
          <Stat label="Last delivery">{fwd.lastDeliveryTime ? formatDateTime(fwd.lastDeliveryTime) : "never"}</Stat>
          {fwd.lastError && <Stat label="Last error">{fwd.lastError}</Stat>}
        </dl>
      </section>
      <section className="card" aria-labelledby="op-dead">
        <h2 id="op-dead">Dead letters</h2>
        <dl className="stats">
          <Stat label="Records">{count(spool.deadLetterRecords)}</Stat>
          <Stat label="Bytes">{bytes(num(spool.deadLetterBytes))}</Stat>
          <Stat label="Dead-lettered since start">{count(fwd.deadLettered)}</Stat>
        </dl>
        <p className="muted small">
          List, show or replay them with <code>sightline spool dead-letter list</code> on the server.
        </p>
      </section>
      <section className="card" aria-labelledby="op-limits">
        <h2 id="op-limits">Limits</h2>
        <dl className="stats">
          <Stat label="Accepted batches">{count(stats.acceptedBatches)}</Stat>
          <Stat label="Rejected batches">{count(stats.rejectedBatches)}</Stat>
        </dl>
        {hits.length === 0 ? (
          <p className="muted">No limit was hit since start.</p>
        ) : (
          <table className="table">
            <caption className="sr-only">Limit hits since start</caption>
            <thead>
              <tr>
                <th scope="col">Limit</th>
                <th scope="col" className="num">
                  Hits
                </th>
              </tr>
            </thead>
            <tbody>
              {hits.map((h) => (
                <tr key={h.limit}>
                  <td>
                    <code>{h.limit}</code>
                  </td>
                  <td className="num">{count(h.count)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}

function Stat({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="stat">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

// int64 fields arrive as strings in protojson.
function num(v: string | undefined): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}

function count(v: string | undefined): string {
  return num(v).toLocaleString();
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
