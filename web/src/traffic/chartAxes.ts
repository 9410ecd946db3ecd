// The traffic charts' scales, apart from the chart library so they are
// plain functions to test: the value axis in four round steps from zero,
// the time axis's labels in the site's time zone (a second line names the
// day, or the year, where it changes), and the width of one bucket.

/** niceMax rounds a maximum up so its quarters are round numbers (the value axis has four steps). */
export function niceMax(max: number): number {
  // Four grid steps: keep them whole numbers for small counts.
  if (!(max > 4)) return 4;
  if (max <= 8) return 8;
  if (max <= 12) return 12;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 4, 8, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/** ySplits: the value axis's five grid lines, 0 to niceMax(max). */
export function ySplits(max: number): number[] {
  const top = niceMax(max);
  return [0, 0.25, 0.5, 0.75, 1].map((f) => top * f);
}

const DAY = 86_400;
const formats = new Map<string, Intl.DateTimeFormat>();
function fmt(tz: string, opts: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${tz}|${JSON.stringify(opts)}`;
  let f = formats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", { timeZone: tz, ...opts });
    formats.set(key, f);
  }
  return f;
}

/**
 * timeLabels names the time axis's ticks (Unix seconds) in the site's time
 * zone for ticks `incr` seconds apart: "14:00" under a day, "3 Nov" under
 * four weeks, "Nov" above. A second line gives the day (or the year) on the
 * first tick where it changes, and on the first tick when the axis spans more
 * than one, so every label can be read on its own.
 */
export function timeLabels(splits: number[], incr: number, tz: string): string[] {
  const ms = (s: number) => new Date(s * 1000);
  const [main, ctx] =
    incr < DAY
      ? [fmt(tz, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }), fmt(tz, { day: "numeric", month: "short" })]
      : incr < 28 * DAY
        ? [fmt(tz, { day: "numeric", month: "short" }), fmt(tz, { year: "numeric" })]
        : [fmt(tz, { month: "short" }), fmt(tz, { year: "numeric" })];
  const ctxs = splits.map((s) => ctx.format(ms(s)));
  const spans = new Set(ctxs).size > 1;
  return splits.map((s, i) => {
    const label = main.format(ms(s));
    const showCtx = i === 0 ? spans || incr >= 28 * DAY : ctxs[i] !== ctxs[i - 1];
    return showCtx ? `${label}\n${ctxs[i]}` : label;
  });
}

/** bucketStep is the usual distance between bucket starts (seconds), or `fallback` with fewer than two. */
export function bucketStep(times: number[], fallback: number): number {
  if (times.length < 2) return fallback;
  // The smallest gap: days around a DST change are an hour shorter or longer, weeks likewise.
  let step = Infinity;
  for (let i = 1; i < times.length; i++) step = Math.min(step, times[i]! - times[i - 1]!);
  return step > 0 && Number.isFinite(step) ? step : fallback;
}

const M = 60;
const H = 60 * M;
const MO = 30 * DAY;
/** The time axis's tick spacings (seconds), as uPlot's own from a minute up. */
const TIME_INCRS = [M, 5 * M, 10 * M, 15 * M, 30 * M, H, 2 * H, 3 * H, 4 * H, 6 * H, 8 * H, 12 * H, DAY, 2 * DAY, 3 * DAY, 4 * DAY, 5 * DAY, 6 * DAY, 7 * DAY, 8 * DAY, 9 * DAY, 10 * DAY, 15 * DAY, MO, 2 * MO, 3 * MO, 4 * MO, 6 * MO, 365 * DAY, 2 * 365 * DAY, 5 * 365 * DAY];

/** timeIncrs: the tick spacings no finer than a bucket (a tick between two days' points names nothing). */
export function timeIncrs(step: number): number[] {
  // 0.9: a bucket around a DST change is an hour shorter.
  return TIME_INCRS.filter((i) => i >= step * 0.9);
}

/**
 * bucketSplits ticks every k-th bucket, counted back from the newest so it
 * is always named, with k the first of `ks` that puts the ticks at least
 * `space` pixels apart. Weeks take these: calendar ticks would fall between
 * the weeks' points.
 */
export function bucketSplits(times: number[], plotWidth: number, space: number, ks = [1, 2, 4, 8, 13, 26, 52]): number[] {
  const n = times.length;
  if (!n) return [];
  const per = plotWidth / n;
  const k = ks.find((k) => k * per >= space) ?? ks[ks.length - 1]!;
  return times.filter((_, i) => (n - 1 - i) % k === 0);
}
