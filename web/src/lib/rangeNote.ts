// The note under a custom date range (dates swapped, range too long): in
// its own module, out of the first paint's bundle, for the pages with a
// date control.
import { customDates, rangeTimes, type RangeParams, type RecordingsQuery } from "./filters";

/**
 * rangeNote answers what the date control says under a custom range: that
 * From and To were swapped, or (blocking: nothing is asked) that the range
 * is longer than maxDays, the most a page reads at once. A range with only
 * From reaches to now.
 */
export function rangeNote(q: RangeParams<string>, now: Date, maxDays?: number): { text: string; blocking: boolean } | undefined {
  if (q.range !== "custom") return undefined;
  const { swapped } = customDates(q);
  const t = rangeTimes(q as Pick<RecordingsQuery, "range" | "from" | "to">, now);
  if (maxDays && t?.start) {
    const ms = Date.parse(t.end ?? now.toISOString()) - Date.parse(t.start);
    const days = Math.round(ms / 86_400_000);
    // The server's limit is of time, not of days (a daylight saving change counts).
    if (ms > maxDays * 86_400_000) return { text: `This range is ${days.toLocaleString()} days; at most ${maxDays} days can be read at once. Choose a later From or an earlier To.`, blocking: true };
  }
  if (swapped) return { text: `From is after To: the range read is ${q.to} to ${q.from}.`, blocking: false };
  return undefined;
}
