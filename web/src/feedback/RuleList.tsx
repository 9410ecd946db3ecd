// A list of page rules (exact URL, starts with, contains, pattern) with the
// same operators, limits and help as the heatmaps' page rule, for the
// feedback widget's and a survey's targeting. Empty means every page.
import { useId } from "react";
import type { Schemas } from "../api/client";
import { MAX_RULE } from "../heatmap/query";
import { RuleOpSelect } from "../heatmap/RuleControls";
import type { UrlCondition } from "../lib/filters";

type UrlMatch = Schemas["v1UrlMatch"];

/** accounts refuses more (as for the widget's pages). */
export const MAX_RULES = 20;

const TO_OP: Partial<Record<Schemas["UrlMatchOperator"], UrlCondition["op"]>> = {
  OPERATOR_EQUALS: "equals",
  OPERATOR_PREFIX: "prefix",
  OPERATOR_CONTAINS: "contains",
  OPERATOR_PATTERN: "pattern",
};
const FROM_OP: Record<UrlCondition["op"], Schemas["UrlMatchOperator"]> = {
  equals: "OPERATOR_EQUALS",
  prefix: "OPERATOR_PREFIX",
  contains: "OPERATOR_CONTAINS",
  pattern: "OPERATOR_PATTERN",
};

export function RuleList({
  value,
  onChange,
  label,
  error,
  testId,
  disabled,
}: {
  value: UrlMatch[];
  onChange: (v: UrlMatch[]) => void;
  label: string;
  error?: string;
  testId: string;
  disabled?: boolean;
}) {
  const id = useId();
  const set = (i: number, r: UrlMatch) => onChange(value.map((x, j) => (j === i ? r : x)));
  return (
    <fieldset className="fb-rules" data-testid={testId} aria-describedby={`${id}-help`} disabled={disabled}>
      <legend>{label}</legend>
      {value.length === 0 && <p className="muted small">Every page.</p>}
      {value.map((r, i) => (
        <div className="row gap-small fb-rule" key={i}>
          <RuleOpSelect
            label={`Rule ${i + 1}: how the URL matches`}
            value={TO_OP[r.operator ?? "OPERATOR_UNSPECIFIED"] ?? "equals"}
            onChange={(o) => set(i, { ...r, operator: FROM_OP[o] })}
            testId={`${testId}-op`}
          />
          <input
            className="grow"
            aria-label={`Rule ${i + 1}: page URL, path or pattern`}
            placeholder="/pricing or https://shop.example.com/product/*"
            value={r.value ?? ""}
            maxLength={MAX_RULE}
            onChange={(e) => set(i, { ...r, value: e.target.value })}
            data-testid={`${testId}-value`}
          />
          <button type="button" className="btn btn-small btn-ghost" aria-label={`Remove rule ${i + 1}`} onClick={() => onChange(value.filter((_, j) => j !== i))}>
            ×
          </button>
        </div>
      ))}
      <button
        type="button"
        className="btn btn-small"
        disabled={value.length >= MAX_RULES}
        onClick={() => onChange([...value, { operator: "OPERATOR_PREFIX", value: "" }])}
        data-testid={`${testId}-add`}
      >
        Add page rule
      </button>
      <p id={`${id}-help`} className="muted small">
        Any rule may match. A value starting with <code>/</code> compares the path on every host of the site; in a pattern <code>*</code> stands for any run of
        characters (<code>/product/*</code>).
      </p>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </fieldset>
  );
}

/** cleanRules drops rules without a value before saving. */
export function cleanRules(rules: UrlMatch[] | undefined): UrlMatch[] {
  return (rules ?? []).map((r) => ({ operator: r.operator ?? "OPERATOR_EQUALS", value: (r.value ?? "").trim() })).filter((r) => r.value);
}
