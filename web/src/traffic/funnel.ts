// The funnel builder's model: steps as the form edits them, checked the way
// the server checks them (2–8 steps, labels ≤ 100, a page rule or an event
// name), and mapped onto the API's FunnelStep.
import type { Schemas } from "../api/client";
import type { UrlCondition } from "../lib/filters";

export type ApiStep = Schemas["v1FunnelStep"];
export type StepResult = Schemas["v1FunnelStepResult"];

export const MIN_STEPS = 2;
export const MAX_STEPS = 8;
export const MAX_LABEL = 100;
export const MAX_VALUE = 2048;

export interface StepDraft {
  /** Stable key for React while steps move. */
  id: number;
  label: string;
  kind: "page" | "event";
  op: UrlCondition["op"];
  value: string;
}

export const STEP_OPS: { op: UrlCondition["op"]; label: string; hint: string }[] = [
  { op: "equals", label: "Page is", hint: "/pricing" },
  { op: "prefix", label: "Page starts with", hint: "/blog/" },
  { op: "contains", label: "Page contains", hint: "checkout" },
  { op: "pattern", label: "Page matches pattern", hint: "https://shop.example.com/p/*" },
];

const OPS: Record<UrlCondition["op"], Schemas["UrlMatchOperator"]> = {
  equals: "OPERATOR_EQUALS",
  prefix: "OPERATOR_PREFIX",
  contains: "OPERATOR_CONTAINS",
  pattern: "OPERATOR_PATTERN",
};

let nextId = 1;
export function newStep(patch: Partial<StepDraft> = {}): StepDraft {
  return { id: nextId++, label: "", kind: "page", op: "equals", value: "", ...patch };
}

/** toApiSteps maps drafts onto FunnelStep (trimmed). */
export function toApiSteps(steps: StepDraft[]): ApiStep[] {
  return steps.map((s) => {
    const label = s.label.trim();
    const value = s.value.trim();
    const out: ApiStep = s.kind === "event" ? { event: value } : { page: { operator: OPS[s.op], value } };
    if (label) out.label = label;
    return out;
  });
}

/** fromApiSteps reads a saved funnel's steps into drafts. */
export function fromApiSteps(steps: ApiStep[] | undefined): StepDraft[] {
  return (steps ?? []).map((s) => {
    if (s.event !== undefined && !s.page) return newStep({ label: s.label ?? "", kind: "event", value: s.event });
    const op = (Object.keys(OPS) as UrlCondition["op"][]).find((k) => OPS[k] === s.page?.operator) ?? "equals";
    return newStep({ label: s.label ?? "", kind: "page", op, value: s.page?.value ?? "" });
  });
}

/** stepProblems answers what is wrong with the steps (empty when the funnel can be computed). */
export function stepProblems(steps: StepDraft[]): string[] {
  const out: string[] = [];
  if (steps.length < MIN_STEPS) out.push(`A funnel needs at least ${MIN_STEPS} steps.`);
  if (steps.length > MAX_STEPS) out.push(`A funnel has at most ${MAX_STEPS} steps.`);
  steps.forEach((s, i) => {
    const v = s.value.trim();
    if (!v) out.push(`Step ${i + 1}: ${s.kind === "event" ? "name the event" : "give a page"}.`);
    else if (s.kind === "event" && v.length > 100) out.push(`Step ${i + 1}: event names are at most 100 characters.`);
    else if (v.length > MAX_VALUE) out.push(`Step ${i + 1}: at most ${MAX_VALUE} characters.`);
    if (s.label.trim().length > MAX_LABEL) out.push(`Step ${i + 1}: labels are at most ${MAX_LABEL} characters.`);
  });
  return out;
}

/** stepTitle names a step: its label, else its rule. */
export function stepTitle(s: ApiStep | StepDraft): string {
  if ("kind" in s) {
    if (s.label.trim()) return s.label.trim();
    if (s.kind === "event") return `Event “${s.value.trim()}”`;
    return `${STEP_OPS.find((o) => o.op === s.op)?.label ?? "Page"} ${s.value.trim()}`;
  }
  if (s.label) return s.label;
  if (s.event !== undefined && !s.page) return `Event “${s.event}”`;
  const op = (Object.keys(OPS) as UrlCondition["op"][]).find((k) => OPS[k] === s.page?.operator) ?? "equals";
  return `${STEP_OPS.find((o) => o.op === op)?.label ?? "Page"} ${s.page?.value ?? ""}`;
}

/** move returns steps with the one at i moved by d (−1 up, +1 down); out of bounds changes nothing. */
export function move<T>(steps: T[], i: number, d: number): T[] {
  const j = i + d;
  if (i < 0 || i >= steps.length || j < 0 || j >= steps.length) return steps;
  const out = [...steps];
  [out[i], out[j]] = [out[j]!, out[i]!];
  return out;
}
