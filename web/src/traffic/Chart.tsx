// The overview's time series and the realtime minutes, as plain SVG: at most
// a few hundred buckets need no chart library (uPlot would add ~50 kB for
// a canvas the page's colours and zoom would not follow), the theme's CSS
// variables colour it in light and dark, and the arrow keys walk the buckets
// with the same tooltip the mouse shows. A real <table> carries the same
// numbers for screen readers and copying.
import { useId, useState, type KeyboardEvent, type MouseEvent } from "react";
import { formatCount } from "./query";

const W = 960;
const H = 260;
const PAD = { l: 44, r: 12, t: 12, b: 26 };

export interface Point {
  label: string;
  /** Longer label for the tooltip and table. */
  long: string;
  value: number;
}

/** niceMax rounds a maximum up so its quarters are round numbers (the axis has four steps). */
export function niceMax(max: number): number {
  // Four grid steps: keep them whole numbers for small counts.
  if (max <= 4) return 4;
  if (max <= 8) return 8;
  if (max <= 12) return 12;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 4, 8, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/** xTicks picks about `want` evenly spaced labelled buckets, always including the last (the newest). */
export function xTicks(n: number, want = 7): number[] {
  if (n <= 0) return [];
  const step = Math.max(1, Math.ceil(n / want));
  const out: number[] = [];
  for (let i = (n - 1) % step; i < n; i += step) out.push(i);
  return out;
}

export function SeriesChart({ points, metric, kind = "area", testId, previous }: { points: Point[]; metric: string; kind?: "area" | "bars"; testId: string; previous?: number[] }) {
  const [active, setActive] = useState<number | undefined>();
  const n = points.length;
  const max = niceMax(Math.max(0, ...points.map((p) => p.value), ...(previous ?? [])));
  const pw = W - PAD.l - PAD.r;
  const ph = H - PAD.t - PAD.b;
  const slot = n ? pw / n : pw;
  const x = (i: number) => PAD.l + slot * (i + 0.5);
  const y = (v: number) => PAD.t + ph - (v / max) * ph;
  const line = points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join("");
  const area = n ? `${line}L${x(n - 1).toFixed(1)},${y(0)}L${x(0).toFixed(1)},${y(0)}Z` : "";
  const prevLine = previous && previous.length === n ? previous.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("") : "";
  const onMove = (e: MouseEvent<SVGSVGElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    const px = ((e.clientX - r.left) / r.width) * W;
    const i = Math.floor((px - PAD.l) / slot);
    setActive(i >= 0 && i < n ? i : undefined);
  };
  const onKey = (e: KeyboardEvent<SVGSVGElement>) => {
    if (!n) return;
    const cur = active ?? -1;
    const next = e.key === "ArrowRight" ? Math.min(n - 1, cur + 1) : e.key === "ArrowLeft" ? Math.max(0, cur < 0 ? n - 1 : cur - 1) : e.key === "Home" ? 0 : e.key === "End" ? n - 1 : undefined;
    if (next === undefined) return;
    e.preventDefault();
    setActive(next);
  };
  const a = active !== undefined ? points[active] : undefined;
  const total = points.reduce((s, p) => s + p.value, 0);
  return (
    <div className="tr-chart" data-testid={testId}>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        tabIndex={0}
        aria-label={`${metric} per interval, ${n} intervals, ${total.toLocaleString()} in all. Use the arrow keys to read each interval.`}
        onMouseMove={onMove}
        onMouseLeave={() => setActive(undefined)}
        onKeyDown={onKey}
        onBlur={() => setActive(undefined)}
      >
        {[0, 0.25, 0.5, 0.75, 1].map((f) => (
          <g key={f}>
            <line className="grid" x1={PAD.l} x2={W - PAD.r} y1={y(max * f)} y2={y(max * f)} />
            <text x={PAD.l - 6} y={y(max * f) + 3} textAnchor="end">
              {formatCount(max * f)}
            </text>
          </g>
        ))}
        {xTicks(n).map((i) => (
          <text key={i} x={x(i)} y={H - 8} textAnchor="middle">
            {points[i]!.label}
          </text>
        ))}
        {kind === "bars"
          ? points.map((p, i) => <rect key={i} className={`bar ${i === active ? "bar-on" : ""}`} x={x(i) - slot * 0.38} width={slot * 0.76} y={y(p.value)} height={Math.max(0, y(0) - y(p.value))} rx={2} />)
          : n > 0 && (
              <>
                <path className="area" d={area} />
                {prevLine && <path className="prev" d={prevLine} />}
                <path className="line" d={line} />
                {n <= 60 && points.map((p, i) => <circle key={i} className="dot" cx={x(i)} cy={y(p.value)} r={2.5} />)}
              </>
            )}
        {a && active !== undefined && (
          <g className="hover" aria-hidden>
            <line x1={x(active)} x2={x(active)} y1={PAD.t} y2={y(0)} />
            {kind === "area" && <circle cx={x(active)} cy={y(a.value)} r={4.5} />}
          </g>
        )}
      </svg>
      <div className="tr-tip" aria-live="polite" data-testid={`${testId}-tip`}>
        {a ? (
          <>
            <strong>{a.value.toLocaleString()}</strong> {metric.toLowerCase()} · {a.long}
            {previous && active !== undefined && previous[active] !== undefined && <span className="muted"> (previous period: {previous[active]!.toLocaleString()})</span>}
          </>
        ) : (
          <span className="muted">Point at the chart, or focus it and use ← →, to read an interval.</span>
        )}
      </div>
    </div>
  );
}

/** ChartTable is the chart's numbers as a table, behind a toggle. */
export function ChartTable({ headers, rows, caption, testId }: { headers: string[]; rows: (string | number)[][]; caption: string; testId: string }) {
  const id = useId();
  return (
    <div className="tr-table-wrap" id={id}>
      <table className="tr-table" data-testid={testId}>
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            {headers.map((h, i) => (
              <th key={h} scope="col" className={i ? "num" : undefined}>
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, k) => (
            <tr key={k}>
              {r.map((c, i) =>
                i === 0 ? (
                  <th key={i} scope="row">
                    {c}
                  </th>
                ) : (
                  <td key={i} className="num">
                    {typeof c === "number" ? c.toLocaleString() : c}
                  </td>
                ),
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
