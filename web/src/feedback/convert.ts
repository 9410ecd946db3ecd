// Converters between the API's protojson shapes and what the widget and the
// responses list need: the bootstrap's `feedback` / `surveys` JSON (the shape
// the tracker's widget takes, so the dashboard's preview renders exactly what
// visitors get), answer labels resolved from a survey's definition, and the
// replay link's offset.
import type { Schemas } from "../api/client";

export type FeedbackWidget = Schemas["v1FeedbackWidget"];
export type Survey = Schemas["v1Survey"];
export type Question = Schemas["v1Question"];
export type Answer = Schemas["v1Answer"];
export type UrlMatch = Schemas["v1UrlMatch"];

export type BootPageRule = { op: "equals" | "contains" | "prefix" | "pattern"; value: string };

export interface BootFeedback {
  position: "right" | "left" | "bottom-right" | "bottom-left";
  color: string;
  language: string;
  texts: { tab: string; title: string; prompt: string; thanks: string };
  element: boolean;
  pages: BootPageRule[];
}

export type BootQuestionType = "rating5" | "rating10" | "nps" | "single" | "multiple" | "short" | "long";

export interface BootSurvey {
  id: string;
  language: string;
  thanks: string;
  questions: {
    id: number;
    type: BootQuestionType;
    text: string;
    required: boolean;
    choices: { id: number; label: string }[];
    low: string;
    high: string;
    skip: { choices: number[]; min: number; max: number; to: number }[];
  }[];
  target: { pages: BootPageRule[]; devices: string[]; visitors: "" | "new" | "returning"; attrs: { k: string; v: string }[] };
  trigger: { kind: "load" | "seconds" | "scroll" | "exit" | "event"; seconds: number; scroll: number; event: string };
  sample: number;
  once: boolean;
  start: number | null;
  end: number | null;
}

/** Sightline's accent colour when a site sets none (the widget's own default). */
export const DEFAULT_COLOR = "#3b5bdb";

const POSITIONS: Record<Schemas["FeedbackWidgetPosition"], BootFeedback["position"]> = {
  POSITION_UNSPECIFIED: "right",
  POSITION_RIGHT: "right",
  POSITION_LEFT: "left",
  POSITION_BOTTOM_RIGHT: "bottom-right",
  POSITION_BOTTOM_LEFT: "bottom-left",
};

const OPS: Record<Schemas["UrlMatchOperator"], BootPageRule["op"] | undefined> = {
  OPERATOR_UNSPECIFIED: undefined,
  OPERATOR_EQUALS: "equals",
  OPERATOR_CONTAINS: "contains",
  OPERATOR_PREFIX: "prefix",
  OPERATOR_PATTERN: "pattern",
};

export const QUESTION_TYPES: { value: Schemas["v1QuestionType"]; boot: BootQuestionType; label: string }[] = [
  { value: "QUESTION_TYPE_RATING_5", boot: "rating5", label: "Rating 1–5" },
  { value: "QUESTION_TYPE_RATING_10", boot: "rating10", label: "Rating 1–10" },
  { value: "QUESTION_TYPE_NPS", boot: "nps", label: "Net Promoter Score (0–10)" },
  { value: "QUESTION_TYPE_SINGLE_CHOICE", boot: "single", label: "Single choice" },
  { value: "QUESTION_TYPE_MULTIPLE_CHOICE", boot: "multiple", label: "Multiple choice" },
  { value: "QUESTION_TYPE_SHORT_TEXT", boot: "short", label: "Short text" },
  { value: "QUESTION_TYPE_LONG_TEXT", boot: "long", label: "Long text" },
];

const TRIGGERS: Record<Schemas["SurveyTriggerKind"], BootSurvey["trigger"]["kind"]> = {
  KIND_UNSPECIFIED: "load",
  KIND_ON_LOAD: "load",
  KIND_AFTER_SECONDS: "seconds",
  KIND_SCROLL_PERCENT: "scroll",
  KIND_EXIT_INTENT: "exit",
  KIND_CUSTOM_EVENT: "event",
};

const DEVICES: Partial<Record<Schemas["v1DeviceType"], string>> = {
  DEVICE_TYPE_DESKTOP: "desktop",
  DEVICE_TYPE_MOBILE: "mobile",
  DEVICE_TYPE_TABLET: "tablet",
};

function pageRules(pages: UrlMatch[] | undefined): BootPageRule[] {
  const out: BootPageRule[] = [];
  for (const p of pages ?? []) {
    const op = OPS[p.operator ?? "OPERATOR_UNSPECIFIED"];
    if (op && p.value) out.push({ op, value: p.value });
  }
  return out;
}

/** bootFeedback converts the site's widget settings to the bootstrap's `feedback` JSON. */
export function bootFeedback(w: FeedbackWidget): BootFeedback {
  return {
    position: POSITIONS[w.position ?? "POSITION_UNSPECIFIED"] ?? "right",
    color: w.color || DEFAULT_COLOR,
    language: w.language ?? "",
    texts: { tab: w.tabLabel ?? "", title: w.title ?? "", prompt: w.commentPrompt ?? "", thanks: w.thanks ?? "" },
    element: !!w.allowElement,
    pages: pageRules(w.pages),
  };
}

function ms(t: string | undefined): number | null {
  const v = t ? Date.parse(t) : NaN;
  return Number.isFinite(v) ? v : null;
}

/** bootSurvey converts a survey definition to one entry of the bootstrap's `surveys`. */
export function bootSurvey(s: Survey): BootSurvey {
  const tg = s.targeting ?? {};
  const tr = s.trigger ?? {};
  return {
    id: s.id ?? "0",
    language: s.language ?? "",
    thanks: s.thanks ?? "",
    questions: (s.questions ?? []).map((q, i) => ({
      // A question not saved yet has no id: number it by place, as the preview only needs them distinct.
      id: q.id || 1000 + i,
      type: QUESTION_TYPES.find((t) => t.value === q.type)?.boot ?? "rating5",
      text: q.text ?? "",
      required: !!q.required,
      choices: (q.choices ?? []).map((c, j) => ({ id: c.id || 1000 + j, label: c.label ?? "" })),
      low: q.lowLabel ?? "",
      high: q.highLabel ?? "",
      skip: (q.skip ?? []).map((r) => ({ choices: r.choiceIds ?? [], min: r.minScore ?? 0, max: r.maxScore ?? 0, to: r.toQuestionId ?? 0 })),
    })),
    target: {
      pages: pageRules(tg.pages),
      devices: (tg.deviceTypes ?? []).map((d) => DEVICES[d]).filter((d): d is string => !!d),
      visitors: tg.visitors === "VISITORS_NEW" ? "new" : tg.visitors === "VISITORS_RETURNING" ? "returning" : "",
      attrs: (tg.attributes ?? []).map((a) => ({ k: a.key ?? "", v: a.value ?? "" })),
    },
    trigger: { kind: TRIGGERS[tr.kind ?? "KIND_UNSPECIFIED"] ?? "load", seconds: tr.seconds ?? 0, scroll: tr.scrollPercent ?? 0, event: tr.event ?? "" },
    sample: s.sampleRate ?? 1,
    once: !!s.oncePerVisitor,
    start: ms(s.startTime),
    end: ms(s.endTime),
  };
}

export interface AnswerLine {
  question: string;
  answer: string;
}

/**
 * answerLines resolves a survey answer's parts against the survey's
 * definition: each question's text and each choice's label. What the
 * definition no longer has (a question or choice deleted since) is named by
 * its id, never dropped.
 */
export function answerLines(a: Answer, survey: Survey | undefined): AnswerLine[] {
  const questions = new Map((survey?.questions ?? []).map((q) => [q.id ?? 0, q]));
  return (a.answers ?? []).map((qa) => {
    const q = questions.get(qa.questionId ?? 0);
    const question = q?.text || `Question ${qa.questionId ?? "?"}`;
    let answer = "";
    if (qa.choiceIds?.length) {
      const labels = new Map((q?.choices ?? []).map((c) => [c.id ?? 0, c.label ?? ""]));
      answer = qa.choiceIds.map((id) => labels.get(id) || `choice ${id}`).join(", ");
      if (qa.text) answer += ` — ${qa.text}`;
    } else if (qa.score !== undefined && qa.score !== null) {
      const max = q?.type === "QUESTION_TYPE_RATING_5" ? 5 : 10;
      answer = q ? `${qa.score} / ${max}` : String(qa.score);
    } else if (qa.text) {
      answer = qa.text;
    }
    return { question, answer };
  });
}

export const FACE_LABELS = ["Hate", "Dislike", "Neutral", "Like", "Love"] as const;

/** ratingLabel names a 1–5 rating for people and screen readers. */
export function ratingLabel(r: number | undefined): string {
  if (!r || r < 1 || r > 5) return "No rating";
  return `${r} of 5 (${FACE_LABELS[r - 1]})`;
}

/** npsLabel names an NPS figure: promoters minus detractors, in points. */
export function npsLabel(nps: number | undefined): string {
  if (nps === undefined || nps === null || !Number.isFinite(nps)) return "—";
  return `${nps > 0 ? "+" : ""}${Math.round(nps)}`;
}

/**
 * fieldOfError picks the field path out of a server's InvalidArgument
 * message (accounts names it from the request's root:
 * "survey.questions[2].choices: want 2 to 20 choices", "settings.feedback.tab_label
 * is longer than 200 characters") and answers it in the client's spelling
 * (lowerCamelCase, without "survey."/"settings."), so the form can show the
 * message at that field; undefined when the message names none.
 */
export function fieldOfError(message: string | undefined): string | undefined {
  const m = message ? /(?:^|[\s(])(?:survey|settings)\.([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*)*)/.exec(message) : null;
  return m?.[1]!.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** errorAt answers whether an error path falls at or under a field's path. */
export function errorAt(errorPath: string | undefined, field: string): boolean {
  if (!errorPath) return false;
  return errorPath === field || errorPath.startsWith(field + ".") || errorPath.startsWith(field + "[");
}
