// The traffic pages' date range: presets, or two dates in the site's time
// zone; a custom range starts from the preset's days.
import { rangeDates, TRAFFIC_RANGES, type TrafficQuery } from "./query";

export function RangePicker({ q, set, tz, testId = "tr" }: { q: Pick<TrafficQuery, "range" | "from" | "to">; set: (p: Partial<TrafficQuery>) => void; tz: string; testId?: string }) {
  const now = new Date();
  const dates = rangeDates(q, now, tz);
  return (
    <div className="row gap-small tr-range" role="group" aria-label="Date range">
      <select
        aria-label="Date range"
        value={q.range}
        onChange={(e) => {
          const range = e.target.value as TrafficQuery["range"];
          set(range === "custom" ? { range, from: dates.from, to: dates.to } : { range, from: undefined, to: undefined });
        }}
        data-testid={`${testId}-range`}
      >
        {TRAFFIC_RANGES.map((r) => (
          <option key={r.key} value={r.key}>
            {r.label}
          </option>
        ))}
      </select>
      {q.range === "custom" && (
        <>
          <input type="date" aria-label="From" value={q.from ?? ""} max={q.to} onChange={(e) => e.target.value && set({ from: e.target.value })} data-testid={`${testId}-from`} />
          <input type="date" aria-label="To" value={q.to ?? ""} min={q.from} onChange={(e) => e.target.value && set({ to: e.target.value })} data-testid={`${testId}-to`} />
        </>
      )}
    </div>
  );
}

