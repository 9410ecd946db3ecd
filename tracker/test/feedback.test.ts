import { describe, it, expect } from 'vitest';
import { matchRule, matchPages, glob } from '../src/feedback/pagerule';
import { next, answered, device, eligible, sampled, returning, readState, type QAnswer } from '../src/feedback/logic';
import { surveySettings, feedbackSettings, surveysSettings } from '../src/feedback/settings';
import { arm, type Events } from '../src/feedback/trigger';
import { payload, post, answerId, type Net } from '../src/feedback/send';
import { language, texts, LANGUAGES } from '../src/feedback/i18n';
import { memoryStore } from '../src/store';
import type { SurveySettings } from '../src/config';

describe('page rules (the cases of pagerule_test.go)', () => {
  const page = 'https://shop.example.com/product/42';
  const cases: [string, string, boolean][] = [
    ['equals', 'https://SHOP.example.com/product/42/?a=1', true],
    ['equals', 'https://shop.example.com/product/4', false],
    ['prefix', 'https://shop.example.com/product/', true],
    ['prefix', 'https://shop.example.com/cart', false],
    ['contains', 'product/4', true],
    ['contains', 'PRODUCT', false],
    ['pattern', '/product/*', true],
    ['equals', '/product/42/', true],
    ['equals', '/product', false],
    ['prefix', '/prod', true],
    ['prefix', '/cart', false],
    ['contains', '/product/42', true],
    ['pattern', 'https://shop.example.com/product/*', true],
    ['pattern', '*/product/*/reviews', false],
  ];
  for (const [op, value, want] of cases)
    it(`${op} ${value} → ${want}`, () => {
      expect(matchRule({ op, value }, page)).toBe(want);
    });

  it('equals ignores the query, fragment and trailing slash of the page too', () => {
    expect(matchRule({ op: 'equals', value: '/product/42' }, 'https://shop.example.com/product/42/?utm=x#top')).toBe(true);
    expect(matchRule({ op: 'equals', value: 'https://shop.example.com/product/42' }, 'https://shop.example.com:443/product/42/?utm=x')).toBe(true);
    expect(matchRule({ op: 'equals', value: '/' }, 'https://shop.example.com/')).toBe(true);
    expect(matchRule({ op: 'equals', value: '/' }, 'https://shop.example.com/a')).toBe(false);
  });

  it('glob agrees with the regular expression it stands for (TestGlobAgainstRegexp)', () => {
    const pats = ['*', '', 'a*', '*a', 'a*b*c', '**', 'https://x/product/*', '*/p/*/reviews', 'a*a*a*a*b'];
    const strs = ['', 'a', 'ab', 'abc', 'aXbYc', 'https://x/product/42', 'https://x/product/', 'https://x/p/1/reviews', 'a'.repeat(28), 'b'];
    for (const p of pats) {
      const re = new RegExp('^' + p.split('*').map((x) => x.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('.*') + '$', 's');
      for (const s of strs) expect(glob(p, s), `${p} ${s}`).toBe(re.test(s));
    }
  });

  it('a hostile pattern stays linear, and junk never matches or throws', () => {
    const t = performance.now();
    expect(glob('*a'.repeat(16) + 'b', 'a'.repeat(5000))).toBe(false);
    expect(performance.now() - t).toBeLessThan(500);
    expect(matchRule({ op: 'nope', value: 'x' }, 'https://a/x')).toBe(false);
    expect(matchRule({ op: 'equals', value: 'https://[' }, 'https://a/')).toBe(false);
    expect(matchRule({ op: 'prefix', value: '/x' }, 'not a url')).toBe(false);
    expect(matchPages([], 'https://a/')).toBe(true);
    expect(matchPages([{ op: 'prefix', value: '/a' }, { op: 'prefix', value: '/b' }], 'https://h/b/c')).toBe(true);
    expect(matchPages([{ op: 'prefix', value: '/a' }], 'https://h/b/c')).toBe(false);
  });
});

const survey = (over: Record<string, unknown> = {}): SurveySettings =>
  surveySettings({
    id: '9007199254740993',
    questions: [
      { id: 1, type: 'nps', text: 'Recommend us?', required: true, skip: [{ choices: [], min: 0, max: 6, to: 3 }] },
      { id: 2, type: 'single', text: 'What do you like?', choices: [{ id: 1, label: 'Price' }, { id: 2, label: 'Speed' }], skip: [{ choices: [2], to: 0 }] },
      { id: 3, type: 'long', text: 'What should we improve?' },
      { id: 4, type: 'short', text: 'Anything else?' },
    ],
    target: { pages: [{ op: 'prefix', value: '/product' }], devices: [], visitors: '', attrs: [] },
    trigger: { kind: 'load' },
    sample: 1,
    once: true,
    start: null,
    end: null,
    ...over,
  })!;

describe('skip logic', () => {
  const qs = survey().questions;
  it('a score in range jumps forward', () => {
    expect(next(qs, 0, { q: 1, score: 3 })).toBe(2);
    expect(next(qs, 0, { q: 1, score: 6 })).toBe(2);
    expect(next(qs, 0, { q: 1, score: 7 })).toBe(1);
  });
  it('a choice jumps, 0 ends, no match goes on, the last question ends', () => {
    expect(next(qs, 1, { q: 2, choices: [2] })).toBe(-1);
    expect(next(qs, 1, { q: 2, choices: [1] })).toBe(2);
    expect(next(qs, 1, null)).toBe(2);
    expect(next(qs, 3, { q: 4, text: 'x' })).toBe(-1);
  });
  it('rules never jump back or to an unknown question', () => {
    const s = survey({
      questions: [
        { id: 1, type: 'rating5', text: 'a' },
        { id: 2, type: 'rating5', text: 'b', skip: [{ choices: [], min: 1, max: 5, to: 1 }, { choices: [], min: 1, max: 5, to: 99 }] },
        { id: 3, type: 'rating5', text: 'c' },
      ],
    });
    expect(next(s.questions, 1, { q: 2, score: 3 })).toBe(2);
  });
  it('answered: empty text or no choice is no answer', () => {
    const cases: [QAnswer | null, boolean][] = [
      [null, false],
      [{ q: 1, text: '  ' }, false],
      [{ q: 1, choices: [] }, false],
      [{ q: 1, score: 0 }, true],
      [{ q: 1, text: 'ok' }, true],
    ];
    for (const [a, want] of cases) expect(answered(a)).toBe(want);
  });
});

describe('targeting', () => {
  it('device classes from the user agent, then touch and width', () => {
    expect(device('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148', 390, 5)).toBe('mobile');
    expect(device('Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120 Mobile Safari/537.36', 412, 5)).toBe('mobile');
    expect(device('Mozilla/5.0 (Linux; Android 14; SM-X710) Chrome/120 Safari/537.36', 1200, 5)).toBe('tablet');
    expect(device('Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)', 1024, 5)).toBe('tablet');
    expect(device('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Safari/605.1.15', 1024, 5)).toBe('tablet');
    expect(device('Mozilla/5.0 (X11; Linux x86_64) Chrome/120', 1280, 0)).toBe('desktop');
    expect(device('Mozilla/5.0 (X11; Linux x86_64) Chrome/120', 500, 0)).toBe('desktop');
    expect(device('Mozilla/5.0 (X11; Linux x86_64) Chrome/120', 500, 1)).toBe('mobile');
  });

  const v = { device: 'desktop', returning: false, attrs: { plan: 'pro' }, now: 1_800_000_000_000 };
  it('devices, new/returning, attributes, window and once', () => {
    expect(eligible(survey(), v, {})).toBe(true);
    expect(eligible(survey({ target: { devices: ['mobile'] } }), v, {})).toBe(false);
    expect(eligible(survey({ target: { devices: ['mobile', 'desktop'] } }), v, {})).toBe(true);
    expect(eligible(survey({ target: { visitors: 'returning' } }), v, {})).toBe(false);
    expect(eligible(survey({ target: { visitors: 'new' } }), v, {})).toBe(true);
    expect(eligible(survey({ target: { attrs: [{ k: 'plan', v: 'pro' }] } }), v, {})).toBe(true);
    expect(eligible(survey({ target: { attrs: [{ k: 'plan', v: 'free' }] } }), v, {})).toBe(false);
    expect(eligible(survey({ start: v.now + 1 }), v, {})).toBe(false);
    expect(eligible(survey({ end: v.now - 1 }), v, {})).toBe(false);
    expect(eligible(survey({ start: v.now - 1, end: v.now + 1 }), v, {})).toBe(true);
    expect(eligible(survey(), v, { '9007199254740993': [1, 1] })).toBe(false);
    expect(eligible(survey({ once: false }), v, { '9007199254740993': [1, 1] })).toBe(true);
  });

  it('sampling is decided once per visitor and survey and kept', () => {
    const st: Record<string, [number, number]> = {};
    expect(sampled(survey({ sample: 0.5 }), st, () => 0.7)).toBe(false);
    expect(sampled(survey({ sample: 0.5 }), st, () => 0.1)).toBe(false); // decided already
    expect(st['9007199254740993']).toEqual([0, 0]);
    const st2: Record<string, [number, number]> = {};
    expect(sampled(survey({ sample: 0.5 }), st2, () => 0.1)).toBe(true);
  });

  it('new until a later session, state survives corrupt storage', () => {
    const st = memoryStore();
    expect(returning(st, '_sl_k_', 's_1')).toBe(false);
    expect(returning(st, '_sl_k_', 's_1')).toBe(false);
    expect(returning(st, '_sl_k_', 's_2')).toBe(true);
    st.set('_sl_k_y', '{nope');
    expect(readState(st, '_sl_k_')).toEqual({});
  });
});

describe('settings from hostile input', () => {
  it('drops what cannot be shown and bounds the rest', () => {
    expect(surveySettings({ id: 12, questions: [{ id: 1, type: 'nps', text: 'x' }] })).toBeNull(); // id must be a decimal string
    expect(surveySettings({ id: '1', questions: [{ id: 1, type: 'single', text: 'x', choices: [] }] })).toBeNull();
    expect(surveySettings({ id: '1', questions: 'x' })).toBeNull();
    const s = surveySettings({ id: '1', questions: Array.from({ length: 50 }, (_, i) => ({ id: i + 1, type: 'short', text: 'q'.repeat(5000) })), trigger: { kind: 'scroll', scroll: 900 }, sample: 7 })!;
    expect(s.questions.length).toBe(20);
    expect(s.questions[0].text.length).toBe(300);
    expect(s.trigger).toEqual({ kind: 'scroll', seconds: 0, scroll: 100, event: '' });
    expect(s.sample).toBe(1);
    expect(surveysSettings([null, 3, { id: '2', questions: [{ id: 1, type: 'rating5', text: 'r' }] }]).map((x) => x.id)).toEqual(['2']);
    expect(feedbackSettings(null)).toBeNull();
    const f = feedbackSettings({ position: 'top', color: 'red;}body{display:none', texts: { tab: 5 }, pages: [{ op: 'prefix' }, { op: 'prefix', value: '/a' }] })!;
    expect(f.position).toBe('right');
    expect(f.color).toBe('#3b5bdb');
    expect(f.texts.tab).toBe('');
    expect(f.pages).toEqual([{ op: 'prefix', value: '/a' }]);
  });
});

describe('texts', () => {
  it('configured language, else the browser’s, else English; own texts win', () => {
    expect(LANGUAGES).toEqual(['en', 'de', 'fr', 'es', 'it', 'nl', 'pt']);
    expect(language('de', ['fr'])).toBe('de');
    expect(language('', ['ja-JP', 'fr-CA', 'de'])).toBe('fr');
    expect(language('', ['ja'])).toBe('en');
    expect(language('xx', ['fr'])).toBe('en');
    for (const l of LANGUAGES) {
      const t = texts(l);
      expect(t.faces.length).toBe(5);
      expect(Object.values(t).every((x) => (Array.isArray(x) ? x.every(Boolean) : !!x))).toBe(true);
    }
    expect(texts('fr', { tab: 'Avis ?', title: '' }).tab).toBe('Avis ?');
    expect(texts('fr', { tab: 'Avis ?', title: '' }).title).toBe('Comment évaluez-vous cette page ?');
  });
});

// A small window stand-in: an EventTarget with the scroll geometry the triggers read.
function fakeWindow(height: number) {
  const w = new EventTarget() as EventTarget & Record<string, unknown>;
  const doc = new EventTarget() as EventTarget & Record<string, unknown>;
  doc.documentElement = { scrollHeight: height };
  doc.body = { scrollHeight: height };
  Object.assign(w, { document: doc, innerHeight: 800, scrollY: 0, setTimeout, clearTimeout });
  return w as unknown as Window & { scrollY: number };
}
const noEvents: Events = { on: () => () => {} };

describe('triggers', () => {
  it('load fires at once; seconds counts from the page view', async () => {
    let n = 0;
    arm({ kind: 'load', seconds: 0, scroll: 0, event: '' }, fakeWindow(800), noEvents, 0, () => n++, false);
    expect(n).toBe(1);
    const t0 = Date.now();
    await new Promise<void>((r) => arm({ kind: 'seconds', seconds: 1, scroll: 0, event: '' }, fakeWindow(800), noEvents, 700, r, false));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(Date.now() - t0).toBeLessThan(900);
  });

  it('scroll fires once past the percentage', () => {
    const w = fakeWindow(4000);
    let n = 0;
    arm({ kind: 'scroll', seconds: 0, scroll: 50, event: '' }, w, noEvents, 0, () => n++, false);
    w.scrollY = 1000; // (1000 + 800) / 4000 = 45 %
    w.dispatchEvent(new Event('scroll'));
    expect(n).toBe(0);
    w.scrollY = 1200;
    w.dispatchEvent(new Event('scroll'));
    w.dispatchEvent(new Event('scroll'));
    expect(n).toBe(1);
  });

  it('exit intent: the pointer leaving through the top; on touch a fast scroll up', () => {
    const w = fakeWindow(5000);
    let n = 0;
    arm({ kind: 'exit', seconds: 0, scroll: 0, event: '' }, w, noEvents, 0, () => n++, false);
    const out = (y: number, rel: unknown) => Object.assign(new Event('mouseout'), { clientY: y, relatedTarget: rel });
    (w.document as unknown as EventTarget).dispatchEvent(out(300, null)); // left through a side
    (w.document as unknown as EventTarget).dispatchEvent(out(-2, {})); // into another element
    expect(n).toBe(0);
    (w.document as unknown as EventTarget).dispatchEvent(out(-2, null));
    expect(n).toBe(1);

    const t = fakeWindow(5000);
    let m = 0;
    arm({ kind: 'exit', seconds: 0, scroll: 0, event: '' }, t, noEvents, 0, () => m++, true);
    for (const y of [400, 900, 1600, 1500]) (t.scrollY = y), t.dispatchEvent(new Event('scroll')); // slow, small
    expect(m).toBe(0);
    t.scrollY = 1200; // 400 px up within 300 ms, a third of the viewport is 267
    t.dispatchEvent(new Event('scroll'));
    expect(m).toBe(1);
  });

  it('custom events, and disarming', () => {
    const subs = new Map<string, () => void>();
    const ev: Events = { on: (name, f) => (subs.set(name, f), () => subs.delete(name)) };
    let n = 0;
    const off = arm({ kind: 'event', seconds: 0, scroll: 0, event: 'checkout' }, fakeWindow(800), ev, 0, () => n++, false);
    expect([...subs.keys()]).toEqual(['checkout']);
    subs.get('checkout')!();
    expect(n).toBe(1);
    expect(subs.size).toBe(0);
    arm({ kind: 'event', seconds: 0, scroll: 0, event: 'x' }, fakeWindow(800), ev, 0, () => n++, false);
    off();
    const w = fakeWindow(4000);
    const off2 = arm({ kind: 'scroll', seconds: 0, scroll: 50, event: '' }, w, noEvents, 0, () => n++, false);
    off2();
    w.scrollY = 3000;
    w.dispatchEvent(new Event('scroll'));
    expect(n).toBe(1);
  });
});

describe('answers on the wire', () => {
  const ids = { siteKey: 'k_site', sessionId: 's_1', visitorId: 'v_1', pageViewId: 'p_1', recorded: true };
  const page = { url: 'https://shop.example.com/p?x=1', w: 1280.4, h: 720 };
  it('feedback and survey payloads follow the wire format', () => {
    expect(payload(ids, { kind: 'feedback', rating: 4, comment: 'c'.repeat(3000), selector: 's'.repeat(300) }, page, 'de', 1700000000000, 'a_x')).toEqual({
      v: 1,
      siteKey: 'k_site',
      sessionId: 's_1',
      visitorId: 'v_1',
      pageViewId: 'p_1',
      id: 'a_x',
      clientTime: 1700000000000,
      recorded: true,
      page: { url: page.url, viewport: { w: 1280, h: 720 } },
      kind: 'feedback',
      language: 'de',
      rating: 4,
      comment: 'c'.repeat(2000),
      selector: 's'.repeat(200),
    });
    const p = payload({ ...ids, recorded: false }, { kind: 'survey', surveyId: '9007199254740993', answers: [{ q: 1, score: 0 }, { q: 2, choices: [1, 3] }, { q: 3, text: 't'.repeat(2500) }, ...Array.from({ length: 30 }, (_, i) => ({ q: 10 + i, score: 1 }))] }, page, 'en', 1, 'a_y');
    expect(p.kind).toBe('survey');
    expect(p.surveyId).toBe('9007199254740993');
    expect(p.rating).toBeUndefined();
    expect(p.recorded).toBe(false);
    const a = p.answers as QAnswer[];
    expect(a.length).toBe(20);
    expect(a.slice(0, 3)).toEqual([{ q: 1, score: 0 }, { q: 2, choices: [1, 3] }, { q: 3, text: 't'.repeat(2000) }]);
    expect(payload(ids, { kind: 'feedback', comment: 'only' }, page, 'en', 1)).not.toHaveProperty('rating');
  });

  it('stays within 16 KiB however much text is answered', () => {
    const long = 'ж'.repeat(2000); // 2 bytes each in UTF-8
    const p = payload(ids, { kind: 'survey', surveyId: '1', answers: Array.from({ length: 20 }, (_, i) => ({ q: i + 1, text: long })).concat([{ q: 99, choices: Array.from({ length: 30 }, (_, i) => i + 1) } as never]) }, page, 'en', 1, 'a_z');
    const n = new TextEncoder().encode(JSON.stringify(p)).length;
    expect(n).toBeLessThanOrEqual(16 * 1024);
    expect(n).toBeGreaterThan(15 * 1024); // cut to fit, not emptied
    const a = p.answers as QAnswer[];
    expect(a.length).toBe(20);
    expect(a.every((x) => x.text!.length > 300)).toBe(true);
    const c = payload(ids, { kind: 'survey', surveyId: '1', answers: [{ q: 1, choices: Array.from({ length: 30 }, (_, i) => i + 1) }] }, page, 'en', 1);
    expect((c.answers as QAnswer[])[0].choices!.length).toBe(20);
  });

  it('ids are a_ and 22 url-safe characters, all different', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const id = answerId();
      expect(id).toMatch(/^a_[A-Za-z0-9_-]{22}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(1000);
  });

  const net = (statuses: (number | Error)[], waits: number[], retryAfter = ''): Net & { calls: RequestInit[] } => {
    const calls: RequestInit[] = [];
    return {
      calls,
      fetch: async (_u, init) => {
        calls.push(init);
        const s = statuses.shift()!;
        if (s instanceof Error) throw s;
        return { status: s, headers: { get: (n: string) => (n === 'Retry-After' ? retryAfter : null) } };
      },
      wait: async (ms) => void waits.push(ms),
      rnd: () => 1,
    };
  };
  it('retries 429/503/network with backoff and Retry-After, not 400', async () => {
    const waits: number[] = [];
    const n = net([503, new TypeError('offline'), 429, 204], waits, '3');
    expect(await post(n, 'https://i/i/v1/answer?k=k', '{}')).toBe(204);
    expect(waits).toEqual([3000, 2000, 4000]); // Retry-After 3 s beats 1 s; the network error doubles to 2 s; 4 s beats 3 s
    expect(n.calls[0]).toMatchObject({ method: 'POST', body: '{}', keepalive: true, credentials: 'omit' });
    expect(n.calls[0].headers).toBeUndefined(); // a string body is text/plain: no preflight
    const w2: number[] = [];
    expect(await post(net([400], w2), 'u', '{}')).toBe(400);
    expect(w2).toEqual([]);
    const w3: number[] = [];
    expect(await post(net([503, 503, 503, 503, 503, 503], w3), 'u', '{}')).toBe(503);
    expect(w3.length).toBe(4);
    expect(await post({ beacon: () => true, wait: async () => {}, rnd: Math.random }, 'u', '{}')).toBe(204);
  });
});
