// Site settings inlined by ingest into the bootstrap (docs/wire-format.md, "Bootstrap settings").
export interface Config {
  siteKey: string;
  endpoint: string;
  recorderUrl: string;
  sampleRate: number;
  recording: boolean;
  respectDnt: boolean;
  requireConsent: boolean;
  maskAllText: boolean;
  maskSelectors: string[];
  blockSelectors: string[];
  unmaskSelectors: string[];
  flags: string[];
  recordCanvas: boolean;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string' && s.trim() !== '') : [];
}

// normalizeConfig turns whatever ingest inlined into a Config with safe defaults: privacy settings
// default to the private choice when missing or of the wrong type.
export function normalizeConfig(raw: unknown): Config | null {
  if (!raw || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  if (typeof r.siteKey !== 'string' || typeof r.endpoint !== 'string') return null;
  const rate = typeof r.sampleRate === 'number' && r.sampleRate >= 0 ? Math.min(r.sampleRate, 1) : 1;
  return {
    siteKey: r.siteKey,
    endpoint: r.endpoint,
    recorderUrl: typeof r.recorderUrl === 'string' ? r.recorderUrl : '',
    sampleRate: rate,
    recording: r.recording !== false,
    respectDnt: r.respectDnt !== false,
    requireConsent: r.requireConsent === true,
    maskAllText: r.maskAllText === true,
    maskSelectors: strings(r.maskSelectors),
    blockSelectors: strings(r.blockSelectors),
    unmaskSelectors: strings(r.unmaskSelectors),
    flags: strings(r.flags),
    // Canvas pixels can be anything the page draws: off unless the site opts in.
    recordCanvas: r.recordCanvas === true,
  };
}

// The feedback bundle's settings, inlined beside the others (docs/wire-format.md, "Bootstrap
// settings"). Types only: the recorder never reads them; src/feedback/settings.ts normalises them.
export interface FeedbackRule {
  op: string; // equals | contains | prefix | pattern
  value: string;
}
export interface FeedbackSettings {
  position: 'right' | 'left' | 'bottom-right' | 'bottom-left';
  color: string; // #rrggbb
  language: string; // "" = the browser's among the supported ones
  texts: { tab: string; title: string; prompt: string; thanks: string }; // "" = the language's default
  element: boolean; // the visitor may point at an element
  pages: FeedbackRule[]; // empty = every page
}
export type QuestionKind = 'rating5' | 'rating10' | 'nps' | 'single' | 'multiple' | 'short' | 'long';
export interface SkipRule {
  choices: number[];
  min?: number;
  max?: number;
  to: number; // a later question's id; 0 ends the survey
}
export interface SurveyQuestion {
  id: number;
  type: QuestionKind;
  text: string;
  required: boolean;
  choices: { id: number; label: string }[];
  low: string;
  high: string;
  skip: SkipRule[];
}
export interface SurveySettings {
  id: string; // int64 as a decimal string
  language: string;
  thanks: string;
  questions: SurveyQuestion[];
  target: { pages: FeedbackRule[]; devices: string[]; visitors: '' | 'new' | 'returning'; attrs: { k: string; v: string }[] };
  trigger: { kind: 'load' | 'seconds' | 'scroll' | 'exit' | 'event'; seconds: number; scroll: number; event: string };
  sample: number; // 0..1
  once: boolean;
  start: number | null; // ms since epoch
  end: number | null;
}
