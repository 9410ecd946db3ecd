// The responses page's two charts, as plain SVG: a few dozen buckets need no
// chart library (none would fit the page's 30 kB chunk budget with room to
// spare), and SVG follows the page's colours and zoom. Each chart has a
// table view with the same numbers for screen readers and for copying.
import { useId, useState } from "react";
import type { Schemas } from "../api/client";
import { FACE_LABELS, npsLabel } from "./convert";

type Bucket = Schemas["v1AnswerBucket"];
type Interval = Schemas["v1StatsInterval"];

const W = 560;
const H = 160;
const PAD = { l: 34, r: 8, t: 8, b: 20 };
/** Rating colours from 1 (red) to 5 (green): readable on light and dark panels. */
export const RATING_COLORS = ["#e5484d", "#f76b15", "#f5a524", "#7cc35a", "#12a150"];

export function bucketLabel(start: string | undefined, interval: Interval | undefined): string {
  if (!start) return "";
  const d = new Date(start);
  if (interval === "STATS_INTERVAL_MONTH") return d.toLocaleDateString(undefined, { month: "short", year: "numeric", timeZone: "UTC" });
  return d.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

function TableToggle({ children, label, testId }: { children: React.ReactNode; label: string; testId: string }) {
  const [open, setOpen] = useState(false);
  const id = useId();
  return (
    <div>
      <button type="button" className="link-button small" aria-expanded={open} aria-controls={id} onClick={() => setOpen(!open)} data-testid={`${testId}-table-toggle`}>
        {open ? "Hide table" : `Show ${label} as a table`}
      </button>
      <div id={id} hidden={!open}>
        {children}
      </div>
    </div>
  );
}

/** xLabels picks at most ~6 evenly spaced bucket labels. */
function xTicks(n: number): number[] {
  if (n <= 0) return [];
  const step = Math.max(1, Math.ceil(n / 6));
  const out: number[] = [];
  for (let i = 0; i < n; i += step) out.push(i);
  return out;
}

export function NpsChart({ series, interval }: { series: Bucket[]; interval?: Interval }) {
  const n = series.length;
  const pw = W - PAD.l - PAD.r;
  const ph = H - PAD.t - PAD.b;
  const x = (i: number) => PAD.l + (n <= 1 ? pw / 2 : (i * pw) / (n - 1));
  const y = (v: number) => PAD.t + ((100 - v) / 200) * ph;
  const pts = series.map((b, i) => ({ i, v: b.counts?.nps })).filter((p): p is { i: number; v: number } => typeof p.v === "number");
  // A line through the buckets that have an NPS; buckets without one leave a gap between their neighbours' points, not a drop to zero.
  const path = pts.map((p, k) => `${k === 0 || p.i !== pts[k - 1]!.i + 1 ? "M" : "L"}${x(p.i).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
  return (
    <div className="fb-chart" data-testid="nps-chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`NPS over time: ${pts.length} of ${n} intervals have NPS answers`}>
        {[100, 0, -100].map((v) => (
          <g key={v}>
            <line className="axis" x1={PAD.l} x2={W - PAD.r} y1={y(v)} y2={y(v)} strokeDasharray={v === 0 ? undefined : "2 3"} />
            <text x={PAD.l - 4} y={y(v) + 3} textAnchor="end">
              {v > 0 ? `+${v}` : v}
            </text>
          </g>
        ))}
        {xTicks(n).map((i) => (
          <text key={i} x={x(i)} y={H - 4} textAnchor="middle">
            {bucketLabel(series[i]?.start, interval)}
          </text>
        ))}
        <path d={path} fill="none" stroke="var(--accent)" strokeWidth={2} />
        {pts.map((p) => (
          <circle key={p.i} cx={x(p.i)} cy={y(p.v)} r={3} fill="var(--accent)">
            <title>
              {bucketLabel(series[p.i]?.start, interval)}: NPS {npsLabel(p.v)}
            </title>
          </circle>
        ))}
      </svg>
      <SeriesTable
        label="NPS"
        testId="nps"
        caption="NPS by interval"
        columns={["NPS", "Promoters", "Passives", "Detractors"]}
        series={series}
        interval={interval}
        cells={(b) => [npsLabel(b.counts?.nps), Number(b.counts?.promoters ?? 0), Number(b.counts?.passives ?? 0), Number(b.counts?.detractors ?? 0)]}
      />
    </div>
  );
}

/** SeriesTable is a chart's figures as a table (behind TableToggle): a row an interval, its start first. */
function SeriesTable({
  label,
  testId,
  caption,
  columns,
  series,
  interval,
  cells,
}: {
  label: string;
  testId: string;
  caption: string;
  columns: string[];
  series: Bucket[];
  interval?: Interval;
  cells: (b: Bucket, i: number) => React.ReactNode[];
}) {
  return (
    <TableToggle label={label} testId={testId}>
      <table className="fb-table small" data-testid={`${testId}-table`}>
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">From</th>
            {columns.map((c) => (
              <th key={c} scope="col" className="num">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {series.map((b, i) => (
            <tr key={b.start}>
              <th scope="row">{bucketLabel(b.start, interval)}</th>
              {cells(b, i).map((c, k) => (
                <td key={k} className="num">
                  {c}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </TableToggle>
  );
}

export function ratingCounts(b: Bucket | undefined): number[] {
  const c = b?.counts?.ratingCounts ?? [];
  return [0, 1, 2, 3, 4].map((i) => Number(c[i] ?? 0));
}

export function RatingChart({ series, interval }: { series: Bucket[]; interval?: Interval }) {
  const n = series.length;
  const pw = W - PAD.l - PAD.r;
  const ph = H - PAD.t - PAD.b;
  const rows = series.map(ratingCounts);
  const max = Math.max(1, ...rows.map((r) => r.reduce((a, b) => a + b, 0)));
  const bw = n ? pw / n : pw;
  const x = (i: number) => PAD.l + i * bw;
  return (
    <div className="fb-chart" data-testid="rating-chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Ratings over time: ${rows.flat().reduce((a, b) => a + b, 0)} rated answers`}>
        <line className="axis" x1={PAD.l} x2={W - PAD.r} y1={PAD.t + ph} y2={PAD.t + ph} />
        <text x={PAD.l - 4} y={PAD.t + 8} textAnchor="end">
          {max}
        </text>
        <text x={PAD.l - 4} y={PAD.t + ph} textAnchor="end">
          0
        </text>
        {rows.map((r, i) => {
          let top = PAD.t + ph;
          return (
            <g key={i}>
              {r.map((c, k) => {
                if (!c) return null;
                const h = (c / max) * ph;
                top -= h;
                return (
                  <rect key={k} x={x(i) + bw * 0.15} width={Math.max(1, bw * 0.7)} y={top} height={h} fill={RATING_COLORS[k]}>
                    <title>
                      {bucketLabel(series[i]?.start, interval)}: {c} rated {k + 1} ({FACE_LABELS[k]})
                    </title>
                  </rect>
                );
              })}
            </g>
          );
        })}
        {xTicks(n).map((i) => (
          <text key={i} x={x(i) + bw / 2} y={H - 4} textAnchor="middle">
            {bucketLabel(series[i]?.start, interval)}
          </text>
        ))}
      </svg>
      <div className="fb-legend" aria-hidden>
        {FACE_LABELS.map((f, k) => (
          <span key={k}>
            <span className="fb-swatch" style={{ background: RATING_COLORS[k] }} />
            {k + 1} {f}
          </span>
        ))}
      </div>
      <SeriesTable
        label="ratings"
        testId="rating"
        caption="Ratings by interval"
        columns={FACE_LABELS.map((l, k) => `${k + 1} (${l})`)}
        series={series}
        interval={interval}
        cells={(_, i) => rows[i]!}
      />
    </div>
  );
}
