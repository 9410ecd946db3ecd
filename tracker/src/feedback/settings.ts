// Normalising the feedback and survey settings ingest inlines into the bootstrap: whatever arrives
// (an older ingest, a hand-edited config) becomes well-typed values or is dropped, never a throw.
import type { FeedbackSettings, FeedbackRule, SurveySettings, SurveyQuestion, QuestionKind, SkipRule } from '../config';

const POSITIONS = ['right', 'left', 'bottom-right', 'bottom-left'];
const KINDS: QuestionKind[] = ['rating5', 'rating10', 'nps', 'single', 'multiple', 'short', 'long'];
const TRIGGERS = ['load', 'seconds', 'scroll', 'exit', 'event'];
export const MAX_QUESTIONS = 20;
const MAX_CHOICES = 30;

type R = Record<string, unknown>;
const obj = (v: unknown): R => (v && typeof v == 'object' && !Array.isArray(v) ? (v as R) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown, max = 300): string => (typeof v == 'string' ? v.slice(0, max) : '');
const num = (v: unknown, d: number): number => (typeof v == 'number' && isFinite(v) ? v : d);
const int = (v: unknown): number | undefined => (typeof v == 'number' && Number.isInteger(v) ? v : undefined);

export function rules(v: unknown): FeedbackRule[] {
  return arr(v)
    .map(obj)
    .filter((r) => typeof r.op == 'string' && typeof r.value == 'string' && r.value)
    .map((r) => ({ op: r.op as string, value: (r.value as string).slice(0, 2048) }));
}

export function feedbackSettings(v: unknown): FeedbackSettings | null {
  if (!v || typeof v != 'object') return null;
  const r = obj(v);
  const t = obj(r.texts);
  const color = str(r.color, 7);
  return {
    position: (POSITIONS.includes(r.position as string) ? r.position : 'right') as FeedbackSettings['position'],
    color: /^#[0-9a-fA-F]{6}$/.test(color) ? color : '#3b5bdb',
    language: str(r.language, 16),
    texts: { tab: str(t.tab, 200), title: str(t.title, 200), prompt: str(t.prompt, 200), thanks: str(t.thanks, 200) },
    element: r.element === true,
    pages: rules(r.pages),
  };
}

function skip(v: unknown): SkipRule[] {
  return arr(v)
    .map(obj)
    .map((s) => ({
      choices: arr(s.choices).filter((c): c is number => int(c) !== undefined),
      min: int(s.min),
      max: int(s.max),
      to: int(s.to) ?? -1,
    }))
    .filter((s) => s.to >= 0);
}

function question(v: unknown): SurveyQuestion | null {
  const q = obj(v);
  const id = int(q.id);
  if (!id || id < 1 || !KINDS.includes(q.type as QuestionKind)) return null;
  const choices = arr(q.choices)
    .map(obj)
    .filter((c) => int(c.id) !== undefined && typeof c.label == 'string')
    .slice(0, MAX_CHOICES)
    .map((c) => ({ id: c.id as number, label: str(c.label, 200) }));
  if ((q.type == 'single' || q.type == 'multiple') && !choices.length) return null;
  return { id, type: q.type as QuestionKind, text: str(q.text), required: q.required === true, choices, low: str(q.low, 100), high: str(q.high, 100), skip: skip(q.skip) };
}

export function surveySettings(v: unknown): SurveySettings | null {
  const s = obj(v);
  if (typeof s.id != 'string' || !/^\d{1,19}$/.test(s.id)) return null;
  const questions = arr(s.questions)
    .slice(0, MAX_QUESTIONS)
    .map(question)
    .filter((q): q is SurveyQuestion => !!q);
  if (!questions.length) return null;
  const t = obj(s.target);
  const g = obj(s.trigger);
  const vis = (t.visitors == 'new' || t.visitors == 'returning' ? t.visitors : '') as '' | 'new' | 'returning';
  const when = (x: unknown) => (typeof x == 'number' && isFinite(x) ? x : null);
  return {
    id: s.id,
    language: str(s.language, 16),
    thanks: str(s.thanks, 300),
    questions,
    target: {
      pages: rules(t.pages),
      devices: arr(t.devices).filter((d): d is string => typeof d == 'string'),
      visitors: vis,
      attrs: arr(t.attrs)
        .map(obj)
        .filter((a) => typeof a.k == 'string' && typeof a.v == 'string')
        .map((a) => ({ k: a.k as string, v: a.v as string })),
    },
    trigger: {
      kind: (TRIGGERS.includes(g.kind as string) ? g.kind : 'load') as SurveySettings['trigger']['kind'],
      seconds: Math.max(0, num(g.seconds, 0)),
      scroll: Math.min(100, Math.max(0, num(g.scroll, 0))),
      event: str(g.event, 128),
    },
    sample: Math.min(1, Math.max(0, num(s.sample, 1))),
    once: s.once !== false,
    start: when(s.start),
    end: when(s.end),
  };
}

export function surveysSettings(v: unknown): SurveySettings[] {
  return arr(v)
    .map(surveySettings)
    .filter((s): s is SurveySettings => !!s);
}
