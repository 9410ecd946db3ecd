import { useEffect, useState } from "react";
import { validDate, type RangeParams } from "../lib/filters";
import { rangeNote } from "../lib/rangeNote";

/**
 * DateRangeFilter is the filter bars' date control: a preset and, for a
 * custom range, its two inclusive dates (either may stay empty). A date
 * is sent only once it is a real one, so typing a year digit by digit
 * (0002, 0020, …) is not cut short; leaving the field shows the date in
 * use again. Under the dates, a note says when From and To were swapped or
 * the range is longer than maxDays (then the page asks nothing). Test ids:
 * `${testId}-range`, `${testId}-from`, `${testId}-to`, `${testId}-range-note`.
 */
export function DateRangeFilter<K extends string>({
  presets,
  value,
  onChange,
  testId,
  maxDays,
}: {
  presets: readonly { key: K; label: string }[];
  value: RangeParams<K>;
  onChange: (patch: Partial<RangeParams<K>>) => void;
  testId: string;
  maxDays?: number;
}) {
  const note = rangeNote(value, new Date(), maxDays);
  return (
    <div className="filter-group">
      <span className="filter-label">Date</span>
      <select value={value.range} onChange={(e) => onChange({ range: e.target.value as K })} aria-label="Date range" data-testid={`${testId}-range`}>
        {presets.map((r) => (
          <option key={r.key} value={r.key}>
            {r.label}
          </option>
        ))}
      </select>
      {value.range === "custom" && (
        <div className="row gap-small">
          <DateInput label="From" value={value.from} onChange={(from) => onChange({ from })} testId={`${testId}-from`} />
          <DateInput label="To" value={value.to} onChange={(to) => onChange({ to })} testId={`${testId}-to`} />
        </div>
      )}
      {note && (
        <p className={`small ${note.blocking ? "warn" : "muted"}`} role="status" data-testid={`${testId}-range-note`}>
          {note.text}
        </p>
      )}
    </div>
  );
}

/** DateInput edits one date: a draft while typed, sent when valid or emptied. */
function DateInput({ label, value, onChange, testId }: { label: string; value: string | undefined; onChange: (v: string | undefined) => void; testId: string }) {
  const [draft, setDraft] = useState(value ?? "");
  useEffect(() => setDraft(value ?? ""), [value]);
  return (
    <input
      type="date"
      min="1970-01-01"
      max="9999-12-31"
      value={draft}
      onChange={(e) => {
        const v = e.target.value;
        setDraft(v);
        if (!v) onChange(undefined);
        else if (validDate(v)) onChange(v);
      }}
      onBlur={() => setDraft(value ?? "")}
      aria-label={label}
      data-testid={testId}
    />
  );
}
