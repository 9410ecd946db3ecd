// The page rule's controls, shared by the heatmap's page picker, the
// responses filter and the feedback targeting rules: how a URL matches, and
// a typed rule that takes effect on Enter, on leaving the field or with a
// new operator.
import { useEffect, useState, type ChangeEvent, type KeyboardEvent } from "react";
import type { UrlCondition } from "../lib/filters";
import { MAX_RULE, RULES } from "./query";

/** RuleOpSelect picks how a page rule matches (exact, prefix, contains, pattern). */
export function RuleOpSelect({ value, onChange, label, testId }: { value: UrlCondition["op"]; onChange: (op: UrlCondition["op"]) => void; label: string; testId: string }) {
  return (
    <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value as UrlCondition["op"])} data-testid={testId}>
      {RULES.map((r) => (
        <option key={r.op} value={r.op}>
          {r.label}
        </option>
      ))}
    </select>
  );
}

/**
 * useRuleDraft keeps the text of a rule being typed (following value when it
 * changes elsewhere) and its operator; commit sends it trimmed and capped at
 * MAX_RULE, or undefined when empty. An empty rule saves nothing, so the
 * operator picked before typing is kept here until there is text to send
 * with it. inputProps wire a text input: Enter commits, and so does leaving
 * the field with a changed text.
 */
export function useRuleDraft(value: UrlCondition | undefined, onChange: (v: UrlCondition | undefined) => void) {
  const [text, setText] = useState(value?.value ?? "");
  useEffect(() => setText(value?.value ?? ""), [value?.value]);
  const [picked, setPicked] = useState<UrlCondition["op"]>();
  const op = value?.op ?? picked ?? "equals";
  const commit = (v: string, o = op) => {
    const t = v.trim().slice(0, MAX_RULE);
    setPicked(o);
    onChange(t ? { op: o, value: t } : undefined);
  };
  const inputProps = {
    value: text,
    maxLength: MAX_RULE,
    onChange: (e: ChangeEvent<HTMLInputElement>) => setText(e.target.value),
    onBlur: () => text.trim() !== (value?.value ?? "") && commit(text),
    onKeyDown: (e: KeyboardEvent) => e.key === "Enter" && commit(text),
  };
  return { text, op, commit, inputProps };
}
