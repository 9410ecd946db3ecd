// Survey logic without the DOM: skip rules, targeting and the once-per-visitor/sampling state, so
// unit tests can pin each rule down.
import type { SurveyQuestion, SurveySettings } from '../config';
import type { Store } from '../store';

// One question's answer, as the wire format carries it.
export interface QAnswer {
  q: number;
  score?: number;
  choices?: number[];
  text?: string;
}

// next answers the index of the question after questions[i] given its answer: the first skip rule
// that matches (any of its choices picked, or the score within [min, max]) sends the survey to its
// question, 0 ends it; without a match the next question follows. A rule may only jump forward
// (a jump back could loop forever) and a rule naming no later question is ignored. -1 ends.
export function next(qs: SurveyQuestion[], i: number, a: QAnswer | null): number {
  const q = qs[i];
  if (a)
    for (const r of q.skip) {
      const hit = r.choices.length
        ? !!a.choices && a.choices.some((c) => r.choices.includes(c))
        : a.score !== undefined && (r.min === undefined || a.score >= r.min) && (r.max === undefined || a.score <= r.max);
      if (!hit) continue;
      if (r.to === 0) return -1;
      const j = qs.findIndex((x) => x.id === r.to);
      if (j > i) return j;
    }
  return i + 1 < qs.length ? i + 1 : -1;
}

// answered tells whether an answer holds something (a required question needs it).
export function answered(a: QAnswer | null): boolean {
  return !!a && (a.score !== undefined || (!!a.choices && a.choices.length > 0) || (!!a.text && a.text.trim() !== ''));
}

// device classes the visitor the simple way the README documents: the user agent names a tablet
// (iPad, Android without "Mobile", "Tablet") or a phone ("Mobi", iPhone, Android); otherwise an
// iPad that says it is a Mac (touch points) is a tablet, and a viewport narrower than 768 px on a
// touch screen a phone. Everything else is a desktop.
export function device(ua: string, width: number, touch: number): 'desktop' | 'mobile' | 'tablet' {
  if (/iPad|Tablet|Android(?!.*Mobile)/i.test(ua)) return 'tablet';
  if (/Mobi|iPhone|iPod|Android/i.test(ua)) return 'mobile';
  if (touch > 1 && /Macintosh/.test(ua)) return 'tablet';
  return touch > 0 && width < 768 ? 'mobile' : 'desktop';
}

// Stored per visitor and site: the session the visitor was first seen in (new vs returning) and,
// per survey, [sampled in (1/0), done (1 = shown or answered)].
export interface SurveyState {
  [id: string]: [number, number];
}

export function readState(st: Store, k: string): SurveyState {
  try {
    const x = JSON.parse(st.get(k + 'y') || '{}');
    if (x && typeof x == 'object' && !Array.isArray(x)) return x;
  } catch {
    /* corrupt: start again */
  }
  return {};
}

export function writeState(st: Store, k: string, s: SurveyState): void {
  st.set(k + 'y', JSON.stringify(s));
}

// returning says whether this session is not the visitor's first one. The first session is
// remembered the first time the feedback bundle runs for the visitor; a visitor the recorder knew
// before that counts as new for the session in progress.
export function returning(st: Store, k: string, sessionId: string): boolean {
  let f = st.get(k + 'f');
  if (!f) st.set(k + 'f', (f = sessionId));
  return f !== sessionId;
}

export interface Visitor {
  device: string;
  returning: boolean;
  attrs: Record<string, string>;
  now: number;
}

// eligible applies a survey's targeting (pages are the caller's: they change with navigation):
// device class, new/returning, identify attributes (each must equal), the start/end window and
// once per visitor. Sampling is separate: it is decided and stored on first eligibility.
export function eligible(s: SurveySettings, v: Visitor, state: SurveyState): boolean {
  const t = s.target;
  return (
    (!t.devices.length || t.devices.includes(v.device)) &&
    (!t.visitors || (t.visitors === 'returning') === v.returning) &&
    t.attrs.every((a) => v.attrs[a.k] === a.v) &&
    !(s.start !== null && v.now < s.start) &&
    !(s.end !== null && v.now > s.end) &&
    !(s.once && state[s.id] && state[s.id][1])
  );
}

// sampled decides once per visitor and survey whether the visitor is in the sample, and stores it.
export function sampled(s: SurveySettings, state: SurveyState, rnd: () => number): boolean {
  if (!state[s.id]) state[s.id] = [rnd() < s.sample ? 1 : 0, 0];
  return state[s.id][0] === 1;
}
