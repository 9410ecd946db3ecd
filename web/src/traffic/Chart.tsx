// The overview's time series and the realtime minutes, drawn by uPlot: a
// small (about 20 kB gzipped), dependency-free, maintained canvas chart
// library that stays fast with thousands of points (a 400-day range in
// hours). It comes in this chunk, with the traffic pages, not at first paint.
// The theme's CSS variables colour it in light and dark (redrawn when the
// scheme changes), it follows its container's width, the time axis reads in
// the site's time zone (uPlot's tzDate), and the line under it names the
// hovered bucket — the mouse's, or the one the arrow keys select on the
// focused chart, announced politely to screen readers. A real <table>
// (ChartTable, behind ViewToggle) carries the same numbers for screen
// readers and copying.
import { useEffect, useId, useRef, useState, type KeyboardEvent } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { bucketSplits, bucketStep, niceMax, timeIncrs, timeLabels, ySplits } from "./chartAxes";
import { formatCount } from "./query";

export interface Point {
  /** The bucket's start, Unix milliseconds. */
  t: number;
  /** The bucket's name for the tooltip and the table, in the site's time zone. */
  long: string;
  value: number;
}

interface Theme {
  accent: string;
  muted: string;
  line: string;
  panel: string;
  font: string;
}

/** readTheme resolves the page's colour variables (as the current scheme sets them) for the canvas. */
function readTheme(el: HTMLElement): Theme {
  const cs = getComputedStyle(el);
  const v = (name: string, dflt: string) => cs.getPropertyValue(name).trim() || dflt;
  return { accent: v("--accent", "#4f46e5"), muted: v("--muted", "#586174"), line: v("--line", "#e4e7ec"), panel: v("--panel", "#fff"), font: cs.fontFamily || "sans-serif" };
}

/** withAlpha turns any CSS colour into the same colour at opacity a (the canvas normalises it to #rrggbb). */
function withAlpha(ctx: CanvasRenderingContext2D, color: string, a: number): string {
  ctx.save();
  ctx.fillStyle = color;
  const c = String(ctx.fillStyle);
  ctx.restore();
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(c);
  return m ? `rgba(${parseInt(m[1]!, 16)}, ${parseInt(m[2]!, 16)}, ${parseInt(m[3]!, 16)}, ${a})` : c;
}

/** useColorScheme counts changes of the light/dark scheme, so the canvas is redrawn in the new colours. */
function useColorScheme(): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    const mq = window.matchMedia?.("(prefers-color-scheme: dark)");
    const bump = () => setN((k) => k + 1);
    mq?.addEventListener("change", bump);
    // A theme set on <html> (class, data attribute or style) redraws it too.
    const mo = new MutationObserver(bump);
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ["class", "style", "data-theme"] });
    return () => {
      mq?.removeEventListener("change", bump);
      mo.disconnect();
    };
  }, []);
  return n;
}

const heightFor = (width: number) => Math.round(Math.min(300, Math.max(200, width * 0.26)));

/** The uPlot data: bucket starts in Unix seconds, the values, and the previous period's if given. */
function toData(points: Point[], previous?: number[]): uPlot.AlignedData {
  const xs = points.map((p) => p.t / 1000);
  const ys = points.map((p) => p.value);
  return previous && previous.length === points.length ? [xs, ys, previous] : [xs, ys];
}

export function SeriesChart({
  points,
  metric,
  kind = "area",
  testId,
  previous,
  tz,
  step = 3600,
}: {
  points: Point[];
  metric: string;
  kind?: "area" | "bars";
  testId: string;
  previous?: number[];
  /** The site's time zone: the time axis's labels and day boundaries. */
  tz: string;
  /** A bucket's length in seconds, when there are too few buckets to tell. */
  step?: number;
}) {
  const wrap = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [active, setActive] = useState<number | undefined>();
  const activeRef = useRef(active);
  activeRef.current = active;
  const scheme = useColorScheme();
  const n = points.length;
  const hasPrev = !!previous && previous.length === n;
  // The latest data, for the effect that (re)creates the chart.
  const data = useRef<uPlot.AlignedData>(toData(points, previous));
  data.current = toData(points, previous);
  const dataKey = data.current.map((a) => a.join(",")).join(";");

  // (Re)create the chart for a new kind, time zone, scheme or series count; new numbers only update it (below).
  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const th = readTheme(el);
    const probe = document.createElement("canvas").getContext("2d");
    const soft = (c: string, a: number) => (probe ? withAlpha(probe, c, a) : c);
    const bars = kind === "bars";
    const weeks = step >= 6 * 86_400;
    const width = Math.max(240, el.clientWidth);
    const font = `11px ${th.font}`;
    const opts: uPlot.Options = {
      width,
      height: heightFor(width),
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), tz),
      padding: [12, 16, 0, 4],
      legend: { show: false },
      cursor: {
        drag: { x: false, y: false, setScale: false },
        points: bars ? { show: false } : { size: 9, width: 2, stroke: th.accent, fill: th.panel },
        y: false,
        // Snap to the nearest bucket, so the line (or the bars' band) marks the one named below.
        move: (u, left, top) => {
          const i = u.posToIdx(left);
          const x = u.data[0][i];
          return [left >= 0 && x !== undefined ? u.valToPos(x, "x") : left, top];
        },
      },
      scales: {
        x: {
          time: true,
          // Half a bucket either side, so the first and last bars (or a single point) are whole.
          range: (u, min, max) => {
            const s = bucketStep(u.data[0] as number[], step) / 2;
            if (min == null || max == null) {
              const now = Date.now() / 1e3;
              return [now - 2 * s, now];
            }
            return [min - s, max + s];
          },
        },
        y: { range: (_u, _min, max) => [0, niceMax(max)] },
      },
      axes: [
        {
          stroke: th.muted,
          font,
          grid: { show: false },
          ticks: { show: true, stroke: th.line, width: 1, size: 4 },
          space: 64,
          incrs: (u) => timeIncrs(bucketStep(u.data[0] as number[], step)),
          // Weeks tick on their own starts (calendar ticks would fall between them); the rest on uPlot's calendar ticks in the site's zone (tzDate).
          ...(weeks ? { splits: (u: uPlot) => bucketSplits(u.data[0] as number[], u.bbox.width / uPlot.pxRatio, 64) } : {}),
          values: (_u, splits, _i, _space, incr) => timeLabels(splits, weeks ? Math.min(incr, 7 * 86_400) : incr, tz),
          size: (_u, values) => (values?.some((v) => String(v).includes("\n")) ? 44 : 28),
        },
        {
          stroke: th.muted,
          font,
          grid: { stroke: th.line, width: 1 },
          ticks: { show: false },
          splits: (u) => ySplits(Math.max(0, ...((u.data[1] ?? []) as number[]), ...((u.data[2] ?? []) as number[]))),
          values: (_u, splits) => splits.map((v) => formatCount(v)),
          size: (_u, values) => 14 + 7 * Math.max(1, ...(values ?? []).map((v) => String(v).length)),
        },
      ],
      series: [
        {},
        bars
          ? {
              label: metric,
              stroke: th.accent,
              width: 0,
              fill: soft(th.accent, 0.8),
              paths: uPlot.paths.bars!({ size: [0.76, 64], align: 0, radius: [0.15, 0] }),
              points: { show: false },
            }
          : {
              label: metric,
              stroke: th.accent,
              width: 2,
              fill: (u) => {
                const g = u.ctx.createLinearGradient(0, u.bbox.top, 0, u.bbox.top + u.bbox.height);
                g.addColorStop(0, soft(th.accent, 0.28));
                g.addColorStop(1, soft(th.accent, 0.03));
                return g;
              },
              points: { show: (u) => u.data[0].length <= 60, size: 5, width: 0, fill: th.accent, stroke: th.accent },
            },
        ...(hasPrev ? [{ label: "Previous period", stroke: th.muted, width: 1.2, dash: [4, 3], points: { show: false } }] : []),
      ],
      hooks: {
        setCursor: [(u) => setActive(u.cursor.idx ?? undefined)],
        // The bars' hover band is as wide as one bucket (CSS reads --tr-slot).
        setScale: [(u) => slotWidth(u, el)],
        setSize: [(u) => slotWidth(u, el)],
      },
    };
    const u = new uPlot(opts, data.current, el);
    plot.current = u;
    slotWidth(u, el);
    // Redrawn (new scheme or zone): the selected bucket stays selected.
    if (activeRef.current !== undefined && document.activeElement === el) select(u, Math.min(activeRef.current, u.data[0].length - 1));
    el.dataset.state = "drawn";
    const ro = new ResizeObserver(() => {
      const w = Math.max(240, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height: heightFor(w) });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
      delete el.dataset.state;
    };
    // metric only names the series (the legend is off); the numbers arrive through setData.
  }, [kind, tz, scheme, hasPrev, step]);

  // New numbers: update the chart in place (the hovered or selected bucket stays).
  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(data.current);
    if (active !== undefined && active >= n) select(u, n - 1);
  }, [dataKey]);

  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const u = plot.current;
    if (!n || !u) return;
    const cur = active ?? -1;
    const next = e.key === "ArrowRight" ? Math.min(n - 1, cur + 1) : e.key === "ArrowLeft" ? Math.max(0, cur < 0 ? n - 1 : cur - 1) : e.key === "Home" ? 0 : e.key === "End" ? n - 1 : undefined;
    if (next === undefined) return;
    e.preventDefault();
    select(u, next);
  };
  const a = active !== undefined ? points[active] : undefined;
  const total = points.reduce((s, p) => s + p.value, 0);
  return (
    <div className={`tr-chart ${kind === "bars" ? "tr-chart-bars" : ""}`} data-testid={testId}>
      <div
        ref={wrap}
        className="tr-chart-plot"
        role="img"
        tabIndex={0}
        aria-label={`${metric} per interval, ${n} intervals, ${total.toLocaleString()} in all. Use the arrow keys to read each interval.`}
        onKeyDown={onKey}
        onBlur={() => plot.current?.setCursor({ left: -10, top: -10 })}
        data-testid={`${testId}-plot`}
      />
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

/** select moves the chart's cursor onto bucket i, as the mouse would (the setCursor hook names it below the chart). */
function select(u: uPlot, i: number) {
  const x = u.data[0][i];
  const y = u.data[1]?.[i];
  if (x === undefined) return;
  u.setCursor({ left: u.valToPos(x, "x"), top: u.valToPos(typeof y === "number" ? y : 0, "y") });
}

/** slotWidth tells the CSS how wide one bucket is on screen (the bars' hover band). */
function slotWidth(u: uPlot, el: HTMLElement) {
  const xs = u.data[0];
  const s = bucketStep(xs as number[], 60);
  const x0 = xs[0] ?? u.scales.x?.min ?? 0;
  const w = Math.abs(u.valToPos(x0 + s, "x") - u.valToPos(x0, "x"));
  if (Number.isFinite(w)) el.style.setProperty("--tr-slot", `${w.toFixed(1)}px`);
}

/** ViewToggle switches a chart for its table and back. */
export function ViewToggle({ asTable, onChange, testId }: { asTable: boolean; onChange: (asTable: boolean) => void; testId: string }) {
  return (
    <div className="tr-seg" role="group" aria-label="View">
      <button type="button" className={!asTable ? "on" : ""} aria-pressed={!asTable} onClick={() => onChange(false)} data-testid={`${testId}-chart`}>
        Chart
      </button>
      <button type="button" className={asTable ? "on" : ""} aria-pressed={asTable} onClick={() => onChange(true)} data-testid={testId}>
        Table
      </button>
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
