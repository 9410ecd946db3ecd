// Alert rules as the notification settings page edits them: one flat draft
// per rule (what the form's inputs hold) mapped onto notify's AlertRule,
// whose condition is a oneof. The ranges are notify.proto's; the server
// checks them too, the form says so before the round trip.
import type { Schemas } from "../api/client";

export type AlertRule = Schemas["v1AlertRule"];
export type RuleKind = "no_data" | "rage_clicks" | "js_errors" | "answer";

export const RULE_KINDS: { kind: RuleKind; label: string }[] = [
  { kind: "no_data", label: "No data arrives" },
  { kind: "rage_clicks", label: "Rage clicks spike" },
  { kind: "js_errors", label: "JavaScript errors spike" },
  { kind: "answer", label: "Feedback or survey answer" },
];

/** The ranges of notify.proto's conditions. */
export const LIMITS = {
  hours: { min: 1, max: 168 },
  factor: { min: 1.5, max: 100 },
  minSessions: { min: 1, max: 100_000 },
  maxRating: { min: 0, max: 5 },
  maxNps: { min: -1, max: 10 },
  textContains: { max: 200 },
} as const;

/**
 * RuleDraft is the form's state. Numbers are kept as typed strings so a
 * half-typed "1." is not rewritten under the user's cursor.
 */
export interface RuleDraft {
  kind: RuleKind;
  enabled: boolean;
  hours: string;
  factor: string;
  minSessions: string;
  /** "" = any rating. */
  maxRating: string;
  /** "" = any score. */
  maxNps: string;
  textContains: string;
  /** "" or "0" = feedback and every survey. */
  surveyId: string;
}

export function defaultDraft(kind: RuleKind): RuleDraft {
  return {
    kind,
    enabled: true,
    hours: "6",
    factor: "3",
    minSessions: "5",
    maxRating: kind === "answer" ? "2" : "",
    maxNps: "",
    textContains: "",
    surveyId: "",
  };
}

/** ruleKind answers which condition a rule carries, or undefined for one this build does not know. */
export function ruleKind(rule: AlertRule): RuleKind | undefined {
  if (rule.noData) return "no_data";
  if (rule.rageClicks) return "rage_clicks";
  if (rule.jsErrors) return "js_errors";
  if (rule.answer) return "answer";
  return undefined;
}

/** draftFromRule fills the form from a stored rule (unset protojson fields are their zero values). */
export function draftFromRule(rule: AlertRule): RuleDraft {
  const kind = ruleKind(rule) ?? "no_data";
  const d = { ...defaultDraft(kind), enabled: rule.enabled ?? false };
  if (rule.noData) d.hours = String(rule.noData.hours ?? 0);
  const spike = rule.rageClicks ?? rule.jsErrors;
  if (spike) {
    d.factor = String(spike.factor ?? 0);
    d.minSessions = String(spike.minSessions ?? 0);
  }
  if (rule.answer) {
    const a = rule.answer;
    d.maxRating = a.maxRating ? String(a.maxRating) : "";
    // protojson omits 0, which is a real score here (NPS ≤ 0); -1 is "any".
    const nps = a.maxNps ?? 0;
    d.maxNps = nps < 0 ? "" : String(nps);
    d.textContains = a.textContains ?? "";
    d.surveyId = a.surveyId && a.surveyId !== "0" ? a.surveyId : "";
  }
  return d;
}

export type DraftErrors = Partial<Record<keyof RuleDraft, string>>;

function checkNumber(value: string, min: number, max: number, integer: boolean, what: string): string | undefined {
  const v = value.trim();
  if (v === "") return `Enter ${what}.`;
  const n = Number(v);
  if (!Number.isFinite(n)) return `${what[0]!.toUpperCase()}${what.slice(1)} must be a number.`;
  if (integer && !Number.isInteger(n)) return `${what[0]!.toUpperCase()}${what.slice(1)} must be a whole number.`;
  if (n < min || n > max) return `${what[0]!.toUpperCase()}${what.slice(1)} must be between ${min} and ${max}.`;
  return undefined;
}

/** validateDraft answers the form's errors by field; empty when the draft can be saved. */
export function validateDraft(d: RuleDraft): DraftErrors {
  const e: DraftErrors = {};
  const set = (k: keyof RuleDraft, msg: string | undefined) => {
    if (msg) e[k] = msg;
  };
  switch (d.kind) {
    case "no_data":
      set("hours", checkNumber(d.hours, LIMITS.hours.min, LIMITS.hours.max, true, "the number of hours"));
      break;
    case "rage_clicks":
    case "js_errors":
      set("factor", checkNumber(d.factor, LIMITS.factor.min, LIMITS.factor.max, false, "the factor"));
      set("minSessions", checkNumber(d.minSessions, LIMITS.minSessions.min, LIMITS.minSessions.max, true, "the minimum number of sessions"));
      break;
    case "answer":
      if (d.maxRating.trim() !== "") set("maxRating", checkNumber(d.maxRating, 1, LIMITS.maxRating.max, true, "the rating"));
      if (d.maxNps.trim() !== "") set("maxNps", checkNumber(d.maxNps, 0, LIMITS.maxNps.max, true, "the NPS score"));
      if (d.textContains.length > LIMITS.textContains.max) e.textContains = `The text may be at most ${LIMITS.textContains.max} characters.`;
      if (d.surveyId.trim() !== "" && !/^\d{1,19}$/.test(d.surveyId.trim())) e.surveyId = "Pick a survey.";
      break;
  }
  return e;
}

/** ruleFromDraft builds the rule the API stores (validateDraft first). */
export function ruleFromDraft(d: RuleDraft): Pick<AlertRule, "enabled" | "noData" | "rageClicks" | "jsErrors" | "answer"> {
  const base = { enabled: d.enabled };
  switch (d.kind) {
    case "no_data":
      return { ...base, noData: { hours: Number(d.hours) } };
    case "rage_clicks":
      return { ...base, rageClicks: { factor: Number(d.factor), minSessions: Number(d.minSessions) } };
    case "js_errors":
      return { ...base, jsErrors: { factor: Number(d.factor), minSessions: Number(d.minSessions) } };
    case "answer": {
      const survey = d.surveyId.trim();
      return {
        ...base,
        answer: {
          maxRating: d.maxRating.trim() === "" ? 0 : Number(d.maxRating),
          maxNps: d.maxNps.trim() === "" ? -1 : Number(d.maxNps),
          textContains: d.textContains.trim(),
          ...(survey && survey !== "0" ? { surveyId: survey } : {}),
        },
      };
    }
  }
}

function times(n: number | undefined): string {
  // 3 → "3×", 2.5 → "2.5×"
  return `${Number(n ?? 0).toLocaleString("en", { maximumFractionDigits: 2 })}×`;
}

/** describeRule says in a sentence what a rule tells its owner about. */
export function describeRule(rule: AlertRule, surveyName?: (id: string) => string | undefined): string {
  if (rule.noData) {
    const h = rule.noData.hours ?? 0;
    return `Tell me when no data arrives for ${h} hour${h === 1 ? "" : "s"}`;
  }
  const spike = rule.rageClicks ?? rule.jsErrors;
  if (spike) {
    const what = rule.rageClicks ? "sessions with rage clicks" : "sessions with JavaScript errors";
    return `Tell me when ${what} reach ${times(spike.factor)} the usual hourly rate (at least ${spike.minSessions ?? 0})`;
  }
  if (rule.answer) {
    const a = rule.answer;
    const parts: string[] = [];
    if (a.maxRating) parts.push(`rated ${a.maxRating} or lower`);
    const nps = a.maxNps ?? 0;
    if (nps >= 0) parts.push(`with NPS ≤ ${nps}`);
    if (a.textContains) parts.push(`containing “${a.textContains}”`);
    const source = a.surveyId && a.surveyId !== "0" ? `answer to ${surveyName?.(a.surveyId) ?? `survey ${a.surveyId}`}` : "feedback or survey answer";
    return `Tell me about every ${source}${parts.length ? ` ${parts.join(", ")}` : ""}`;
  }
  return "An alert this version of the dashboard does not know";
}

/** ALERT_KIND_LABELS names the kinds of fired alerts (Alert.kind). */
export const ALERT_KIND_LABELS: Record<string, string> = {
  no_data: "No data",
  rage_clicks: "Rage clicks",
  js_errors: "JavaScript errors",
  answer: "Answer",
};

/** alertLinkLabel names the page an alert's link opens: the matching recordings, or the answers (feedback alerts). */
export function alertLinkLabel(link: string): string {
  return /\/feedback(?:[/?#]|$)/.test(link) ? "See the answers" : "See the recordings";
}
