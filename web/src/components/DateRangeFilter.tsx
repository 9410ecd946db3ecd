import type { RangeParams } from "../lib/filters";

/**
 * DateRangeFilter is the filter bars' date control: a preset and, for a
 * custom range, its two inclusive dates (either may stay empty). Test ids:
 * `${testId}-range`, `${testId}-from`, `${testId}-to`.
 */
export function DateRangeFilter<K extends string>({
  presets,
  value,
  onChange,
  testId,
}: {
  presets: readonly { key: K; label: string }[];
  value: RangeParams<K>;
  onChange: (patch: Partial<RangeParams<K>>) => void;
  testId: string;
}) {
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
          <input type="date" value={value.from ?? ""} onChange={(e) => onChange({ from: e.target.value || undefined })} aria-label="From" data-testid={`${testId}-from`} />
          <input type="date" value={value.to ?? ""} onChange={(e) => onChange({ to: e.target.value || undefined })} aria-label="To" data-testid={`${testId}-to`} />
        </div>
      )}
    </div>
  );
}
