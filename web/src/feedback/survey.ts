// Survey drafts in the builder: new questions with ids the request can refer
// to (accounts maps them to stored ids and rewrites skip rules), type changes
// that keep what still applies, and the body sent on save.
import type { Schemas } from "../api/client";

export type Survey = Schemas["v1Survey"];
export type Question = Schemas["v1Question"];
export type QuestionType = Schemas["v1QuestionType"];

/** Temporary ids of unsaved questions and choices start here, far from stored ones (accounts keeps a stored id only when it names the same question). */
const TEMP_ID = 1_000_000;

export const isChoice = (t: QuestionType | undefined) => t === "QUESTION_TYPE_SINGLE_CHOICE" || t === "QUESTION_TYPE_MULTIPLE_CHOICE";
export const isScore = (t: QuestionType | undefined) => t === "QUESTION_TYPE_RATING_5" || t === "QUESTION_TYPE_RATING_10" || t === "QUESTION_TYPE_NPS";

/** scoreRange is the answer range of a rating or NPS question. */
export function scoreRange(t: QuestionType | undefined): [number, number] {
  return t === "QUESTION_TYPE_RATING_5" ? [1, 5] : t === "QUESTION_TYPE_RATING_10" ? [1, 10] : [0, 10];
}

function nextId(ids: (number | undefined)[]): number {
  return Math.max(TEMP_ID - 1, ...ids.map((i) => i ?? 0)) + 1;
}

export function newQuestion(existing: Question[], type: QuestionType = "QUESTION_TYPE_RATING_5"): Question {
  const q: Question = { id: nextId(existing.map((q) => q.id)), type, text: "", required: false };
  return withType(q, type);
}

export function newChoice(q: Question): Schemas["v1Choice"] {
  return { id: nextId((q.choices ?? []).map((c) => c.id)), label: "" };
}

/**
 * withType changes a question's type, keeping what still applies: choices
 * for choice types (two empty ones to start), scale labels for ratings, and
 * only the skip rules that fit the new answers.
 */
export function withType(q: Question, type: QuestionType): Question {
  const out: Question = { ...q, type };
  if (isChoice(type)) {
    out.choices = q.choices?.length ? q.choices : [];
    while ((out.choices?.length ?? 0) < 2) out.choices = [...(out.choices ?? []), newChoice(out)];
    delete out.lowLabel;
    delete out.highLabel;
  } else {
    delete out.choices;
  }
  if (!isScore(type)) {
    delete out.lowLabel;
    delete out.highLabel;
  }
  const [lo, hi] = scoreRange(type);
  out.skip = (q.skip ?? []).filter((r) =>
    isChoice(type) ? (r.choiceIds?.length ?? 0) > 0 && isChoice(q.type) : isScore(type) && isScore(q.type) && (r.minScore ?? lo) >= lo && (r.maxScore ?? hi) <= hi,
  );
  return out;
}

export function emptySurvey(): Survey {
  return {
    name: "",
    status: "SURVEY_STATUS_DRAFT",
    questions: [{ ...newQuestion([], "QUESTION_TYPE_NPS"), text: "How likely are you to recommend us to a friend?", required: true, lowLabel: "Not likely", highLabel: "Very likely" }],
    targeting: {},
    trigger: { kind: "KIND_ON_LOAD" },
    sampleRate: 1,
    oncePerVisitor: true,
    language: "en",
  };
}

/** toSaveBody answers the survey as sent: trimmed texts, no empty page rules or attributes, only the server's fields. */
export function toSaveBody(s: Survey): Survey {
  const tg = s.targeting ?? {};
  const out: Survey = {
    name: (s.name ?? "").trim(),
    status: s.status ?? "SURVEY_STATUS_DRAFT",
    questions: (s.questions ?? []).map((q) => {
      const o: Question = { id: q.id, type: q.type, text: (q.text ?? "").trim(), required: !!q.required };
      if (isChoice(q.type)) o.choices = (q.choices ?? []).map((c) => ({ id: c.id, label: (c.label ?? "").trim() }));
      if (isScore(q.type)) {
        if (q.lowLabel?.trim()) o.lowLabel = q.lowLabel.trim();
        if (q.highLabel?.trim()) o.highLabel = q.highLabel.trim();
      }
      if (q.skip?.length) o.skip = q.skip.map((r) => ({ ...r }));
      return o;
    }),
    targeting: {
      pages: (tg.pages ?? []).map((p) => ({ operator: p.operator ?? "OPERATOR_EQUALS", value: (p.value ?? "").trim() })).filter((p) => p.value),
      deviceTypes: [...(tg.deviceTypes ?? [])],
      visitors: tg.visitors ?? "VISITORS_UNSPECIFIED",
      attributes: (tg.attributes ?? []).map((a) => ({ key: (a.key ?? "").trim(), value: a.value ?? "" })).filter((a) => a.key),
    },
    trigger: { ...(s.trigger ?? { kind: "KIND_ON_LOAD" }) },
    sampleRate: s.sampleRate ?? 1,
    oncePerVisitor: !!s.oncePerVisitor,
    responseLimit: s.responseLimit ?? "0",
    thanks: (s.thanks ?? "").trim(),
    language: (s.language ?? "").trim(),
  };
  if (s.startTime) out.startTime = s.startTime;
  if (s.endTime) out.endTime = s.endTime;
  return out;
}

/** localInput shows an RFC 3339 time in a datetime-local input (the browser's zone). */
export function localInput(t: string | undefined): string {
  if (!t) return "";
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** fromLocalInput reads a datetime-local value (the browser's zone) as RFC 3339, or undefined when empty. */
export function fromLocalInput(v: string): string | undefined {
  if (!v) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export const STATUS_LABELS: Record<Schemas["v1SurveyStatus"], string> = {
  SURVEY_STATUS_UNSPECIFIED: "Draft",
  SURVEY_STATUS_DRAFT: "Draft",
  SURVEY_STATUS_ACTIVE: "Active",
  SURVEY_STATUS_PAUSED: "Paused",
};
