// Answers leave as the wire format's answer JSON (docs/wire-format.md, "Answers"): POSTed as
// text/plain (no CORS preflight), fetch with keepalive so an answer given just before leaving
// still goes, sendBeacon where fetch is missing. 429, 503, 5xx and network errors are retried a few
// times with backoff (at least the server's Retry-After); nothing ever throws into the page.
import type { QAnswer } from './logic';

export const MAX_TEXT = 2000;
export const MAX_SELECTOR = 200;
export const MAX_ANSWERS = 20;
export const MAX_CHOICES = 20; // per answer
export const MAX_BODY = 16 * 1024; // bytes, as ingest measures the body
const RETRIES = 4;
const BASE_MS = 1000;
const MAX_WAIT_MS = 60000;

export interface Ids {
  siteKey: string;
  sessionId: string;
  visitorId: string;
  pageViewId: string;
  recorded: boolean;
}

export interface FeedbackAnswer {
  kind: 'feedback';
  rating?: number;
  comment?: string;
  selector?: string;
}
export interface SurveyAnswer {
  kind: 'survey';
  surveyId: string;
  answers: QAnswer[];
}

// answerId is "a_" + 22 url-safe random characters (132 bits).
export function answerId(rnd: (b: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  let s = 'a_';
  for (const b of rnd(new Uint8Array(22))) s += a[b & 63];
  return s;
}

// payload builds the body; texts are cut to the wire format's limits (the server refuses longer).
export function payload(ids: Ids, a: FeedbackAnswer | SurveyAnswer, page: { url: string; w: number; h: number }, language: string, now: number, id = answerId()): Record<string, unknown> {
  const p: Record<string, unknown> = {
    v: 1,
    siteKey: ids.siteKey,
    sessionId: ids.sessionId,
    visitorId: ids.visitorId,
    pageViewId: ids.pageViewId,
    id,
    clientTime: now,
    recorded: ids.recorded,
    page: { url: page.url.slice(0, 4096), viewport: { w: Math.round(page.w), h: Math.round(page.h) } },
    kind: a.kind,
    language,
  };
  if (a.kind === 'feedback') {
    if (a.rating) p.rating = a.rating;
    if (a.comment) p.comment = a.comment.slice(0, MAX_TEXT);
    if (a.selector) p.selector = a.selector.slice(0, MAX_SELECTOR);
  } else {
    p.surveyId = a.surveyId;
    p.answers = a.answers
      .slice(0, MAX_ANSWERS)
      .map((x) => (x.text !== undefined ? { q: x.q, text: x.text.slice(0, MAX_TEXT) } : x.choices ? { q: x.q, choices: x.choices.slice(0, MAX_CHOICES) } : x));
  }
  fit(p);
  return p;
}

const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)).length;

// fit keeps the body within MAX_BODY: twenty long answers in a non-Latin script can pass it, and
// ingest would refuse the whole answer. Every text is cut to one common length, the longest that
// fits (a binary search: a dozen serialisations at most), so all answers keep their beginnings.
function fit(p: Record<string, unknown>): void {
  if (bytes(p) <= MAX_BODY) return;
  const texts: { o: Record<string, unknown>; k: string; s: string }[] = [];
  if (typeof p.comment == 'string') texts.push({ o: p, k: 'comment', s: p.comment });
  for (const x of (p.answers as Record<string, unknown>[] | undefined) || []) if (typeof x.text == 'string') texts.push({ o: x, k: 'text', s: x.text });
  const cut = (n: number) => {
    for (const t of texts) t.o[t.k] = t.s.slice(0, n);
  };
  let lo = 1;
  let hi = MAX_TEXT;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    cut(mid);
    if (bytes(p) <= MAX_BODY) lo = mid;
    else hi = mid - 1;
  }
  cut(lo);
}

export interface Net {
  fetch?: (url: string, init: RequestInit) => Promise<{ status: number; headers: { get(n: string): string | null } }>;
  beacon?: (url: string, body: string) => boolean;
  wait: (ms: number) => Promise<void>;
  rnd: () => number;
}

// post sends one answer; it answers the final HTTP status (0 = gave up on the network), never throws.
export async function post(net: Net, url: string, body: string): Promise<number> {
  if (!net.fetch) return net.beacon && net.beacon(url, body) ? 204 : 0;
  for (let i = 0; ; i++) {
    let status = 0;
    let after = 0;
    try {
      const r = await net.fetch(url, { method: 'POST', body, keepalive: body.length < 60000, credentials: 'omit', mode: 'cors' });
      status = r.status;
      after = Number(r.headers.get('Retry-After')) * 1000 || 0;
    } catch {
      /* network error or a refused connect-src: retried like a 503 */
    }
    if (status && status !== 408 && status !== 429 && status < 500) return status;
    if (i >= RETRIES) return status;
    const back = BASE_MS * 2 ** i * (0.5 + net.rnd() / 2);
    await net.wait(Math.min(MAX_WAIT_MS, Math.max(back, after)));
  }
}
