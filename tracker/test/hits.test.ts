// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://shop.example.com/start?utm_source=news#top","settings":{"handleDisabledFileLoadingAsSuccess":true}}
import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { clearPage, loads, runBootstrap } from './bootstrapenv';
import type { HitBody as Body } from './hitbody';
import type { Config } from '../src/config';
// @ts-expect-error plain ES module
import { siteConfig } from '../e2e/server.mjs';

// The traffic beacons of the committed dist/bootstrap.js (docs/wire-format.md, "Hit"), rendered
// the way ingest renders it, with navigator.sendBeacon captured. Bootstraps of earlier tests keep
// their listeners on this window: every test uses a site key of its own and looks only at its
// beacons (the ?k= of the URL).
const recorder = readFileSync(import.meta.dirname + '/../dist/recorder.js', 'utf8');
const HIT = 'https://ingest.test/i/v1/hit';
const REC = 'https://ingest.test/static/recorder.abc.js';
let n = 0;
// hits: true gives the site hitEndpoint (HIT) on the same ingest.
const cfg = (over: Partial<Config> = {}): Config => siteConfig('https://ingest.test', 'k_hits' + ++n, { hits: true, recorderUrl: REC, ...over });
type Cfg = ReturnType<typeof cfg>;
type Stub = ((...a: unknown[]) => void) & { q?: unknown[][]; h?: unknown };
type W = typeof window & { sightline?: Stub };
const w = window as W;

let sent: { url: string; body: unknown }[] = [];
const bodies = (c: Cfg): Body[] =>
  sent.filter((s) => s.url == HIT + '?k=' + c.siteKey).map((s) => {
    expect(typeof s.body).toBe('string'); // text/plain;charset=UTF-8: no CORS preflight
    expect(new TextEncoder().encode(s.body as string).length).toBeLessThanOrEqual(8192);
    return JSON.parse(s.body as string);
  });
const hits = (c: Cfg) => bodies(c).flatMap((b) => b.hits);
const kinds = (c: Cfg) => hits(c).map((h) => h.kind);
const tick = () => new Promise((r) => setTimeout(r, 0));
const run = runBootstrap;
const hide = (type: 'visibilitychange' | 'pagehide' = 'visibilitychange') => {
  hidden = true;
  (type == 'pagehide' ? window : document).dispatchEvent(new Event(type));
};
const show = () => {
  hidden = false;
  document.dispatchEvent(new Event('visibilitychange'));
};
let dnt: string | null = null;
let hidden = false;
let beacon: ((url: string, body: unknown) => boolean) | undefined;

beforeEach(() => {
  clearPage();
  dnt = null;
  hidden = false;
  sent = [];
  beacon = (url, body) => (sent.push({ url, body }), true);
  Object.defineProperty(navigator, 'doNotTrack', { configurable: true, get: () => dnt });
  Object.defineProperty(navigator, 'sendBeacon', { configurable: true, get: () => beacon });
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
  Object.defineProperty(document, 'referrer', { configurable: true, get: () => 'https://news.example.org/story' });
  // The recorder's batches (and anything else) go nowhere.
  vi.spyOn(window, 'fetch').mockImplementation(() => Promise.reject(new TypeError('offline')));
  history.replaceState(null, '', '/start?utm_source=news#top');
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('traffic beacons', () => {
  it('sends a page view at load, in the wire format exactly', async () => {
    const c = cfg();
    run(c);
    expect(sent).toEqual([]); // at the end of the task, not during it
    await tick();
    const b = bodies(c);
    expect(b).toHaveLength(1);
    const stored = JSON.parse(localStorage.getItem(`_sl_${c.siteKey}_s`)!);
    expect(Object.keys(b[0])).toEqual(['v', 'sessionId', 'visitorId', 'recorded', 'screen', 'hits']);
    expect(b[0]).toEqual({
      v: 1,
      sessionId: stored.i,
      visitorId: localStorage.getItem(`_sl_${c.siteKey}_v`),
      recorded: true,
      screen: [screen.width, screen.height],
      hits: [{ kind: 'pageview', url: 'https://shop.example.com/start?utm_source=news', referrer: 'https://news.example.org/story', pageViewId: expect.stringMatching(/^p_[0-9a-f]{32}$/), time: expect.any(Number) }],
    });
    expect(b[0].sessionId).toMatch(/^s_[0-9a-f]{32}$/);
    expect(b[0].visitorId).toMatch(/^v_[0-9a-f]{32}$/);
    expect(Math.abs((b[0].hits[0].time as number) - Date.now())).toBeLessThan(1000);
    expect(loads()).toEqual([REC]); // the recorder as before
  });

  it('counts visitors not sampled in, and sites not recording, as not recorded', async () => {
    const c = cfg({ sampleRate: 0 });
    run(c);
    const d = cfg({ recording: false });
    delete w.sightline;
    localStorage.clear();
    run(d);
    await tick();
    expect(loads()).toEqual([]);
    expect(bodies(c).map((b) => [b.recorded, b.hits[0].kind])).toEqual([[false, 'pageview']]);
    expect(bodies(d).map((b) => [b.recorded, b.hits[0].kind])).toEqual([[false, 'pageview']]);
  });

  it('sends nothing without hitEndpoint (absent, or empty: an ingest that forwards no traffic), and still records', async () => {
    for (const hitEndpoint of [undefined, '']) {
      delete w.sightline;
      document.head.innerHTML = '';
      const c = { ...cfg(), hitEndpoint };
      run(c);
      w.sightline!('event', 'signup');
      hide();
      await tick();
      expect(sent.filter((s) => s.url.includes(c.siteKey))).toEqual([]);
      expect(loads()).toEqual([REC]);
    }
    expect(sent.filter((s) => !s.url.startsWith(HIT))).toEqual([]);
  });

  it('a single-page app: each new URL is a page view whose referrer is the one before', async () => {
    const c = cfg();
    run(c);
    await tick();
    const first = hits(c)[0];
    sent = [];
    history.pushState(null, '', '/products?page=2');
    await tick();
    const b = bodies(c);
    expect(b).toHaveLength(1); // the end of one and the start of the next go together
    const [leave, view] = b[0].hits;
    expect(leave).toEqual({ kind: 'leave', duration: expect.any(Number), pageViewId: first.pageViewId, time: expect.any(Number) });
    expect(view).toMatchObject({ kind: 'pageview', url: 'https://shop.example.com/products?page=2', referrer: 'https://shop.example.com/start?utm_source=news' });
    expect(view.pageViewId).not.toBe(first.pageViewId);
    expect(b[0].sessionId).toBe(bodies(c)[0].sessionId);

    sent = [];
    history.replaceState(null, '', '/products?page=3'); // a new URL, by replaceState too
    await tick();
    expect(kinds(c)).toEqual(['leave', 'pageview']);
    expect(hits(c)[1]).toMatchObject({ url: 'https://shop.example.com/products?page=3', referrer: 'https://shop.example.com/products?page=2' });

    sent = [];
    history.replaceState({ x: 1 }, ''); // same URL: state only
    history.pushState(null, '', '/products?page=3#reviews'); // an anchor of the same page
    await tick();
    expect(kinds(c)).toEqual([]);

    history.pushState(null, '', '/cart');
    await tick();
    sent = [];
    history.back(); // popstate
    await new Promise((r) => setTimeout(r, 50));
    expect(location.pathname + location.search).toBe('/products?page=3');
    expect(kinds(c)).toEqual(['leave', 'pageview']);
    expect(hits(c)[1]).toMatchObject({ url: 'https://shop.example.com/products?page=3', referrer: 'https://shop.example.com/cart' });
  });

  it('sends a leave with the duration whenever the page is hidden, and on pagehide', async () => {
    let now = Date.now();
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    const c = cfg();
    run(c);
    await tick();
    const pv = hits(c)[0].pageViewId;
    sent = [];
    now += 15234;
    hide();
    await tick();
    expect(hits(c)).toEqual([{ kind: 'leave', duration: 15234, pageViewId: pv, time: now }]);
    show();
    now += 1000;
    hide('pagehide'); // shown again and left: a larger duration
    await tick();
    expect(hits(c).map((h) => h.duration)).toEqual([15234, 16234]);
  });

  it('sends custom events: queued before load, after load, after the recorder replaced the stub', async () => {
    const c = cfg();
    w.sightline = Object.assign(() => {}, { q: [['event', 'landing'], ['identify', 'u1'], ['event', 'x'.repeat(101)], ['event', ''], ['event', 42]] });
    run(c);
    w.sightline!('event', 'signup', { plan: 'pro' });
    await tick();
    const b = bodies(c);
    expect(b).toHaveLength(1); // produced in one task: one body
    const [view, e1, e2] = b[0].hits;
    expect(b[0].hits).toHaveLength(3); // names the wire format refuses are not sent
    expect(view.kind).toBe('pageview');
    expect(e1).toEqual({ kind: 'event', name: 'landing', pageViewId: view.pageViewId, time: expect.any(Number) });
    expect(e2).toMatchObject({ kind: 'event', name: 'signup', pageViewId: view.pageViewId });

    // The recorder (the committed bundle) takes window.sightline over; events still count.
    const stub = w.sightline!;
    (0, eval)(recorder);
    expect(w.sightline).not.toBe(stub);
    sent = [];
    w.sightline!('event', 'checkout');
    await tick();
    expect(hits(c)).toEqual([{ kind: 'event', name: 'checkout', pageViewId: view.pageViewId, time: expect.any(Number) }]);
    w.sightline!('stop');
  });

  it('respects Do-Not-Track unless the site opts out of it', async () => {
    dnt = '1';
    const c = cfg();
    run(c);
    w.sightline!('event', 'signup');
    hide();
    await tick();
    expect(bodies(c)).toEqual([]);
    expect(Object.keys(localStorage).filter((k) => k.includes(c.siteKey))).toEqual([]);
    delete w.sightline;
    const d = cfg({ respectDnt: false });
    run(d);
    await tick();
    expect(kinds(d)).toEqual(['pageview']);
  });

  it('waits for consent when required, starts on it, stops at a refusal', async () => {
    const c = cfg({ requireConsent: true, sampleRate: 0 });
    run(c);
    w.sightline!('event', 'before');
    history.pushState(null, '', '/consent-page');
    await tick();
    expect(bodies(c)).toEqual([]);
    expect(Object.keys(localStorage).filter((k) => k.includes(c.siteKey))).toEqual([]);

    w.sightline!('consent', true);
    w.sightline!('event', 'after');
    await tick();
    expect(hits(c).map((h) => [h.kind, h.url ?? h.name])).toEqual([
      ['pageview', 'https://shop.example.com/consent-page'],
      ['event', 'after'],
    ]);

    sent = [];
    w.sightline!('event', 'same-task'); // refused in the same task: not sent either
    w.sightline!('consent', false);
    w.sightline!('event', 'later');
    history.pushState(null, '', '/elsewhere');
    hide();
    await tick();
    expect(bodies(c)).toEqual([]);
    expect(Object.keys(localStorage).filter((k) => k.includes(c.siteKey))).toEqual([`_sl_${c.siteKey}_o`]);
  });

  it('a consent given before load (queued) counts', async () => {
    const c = cfg({ requireConsent: true });
    w.sightline = Object.assign(() => {}, { q: [['consent', true], ['event', 'go']] });
    run(c);
    await tick();
    expect(kinds(c)).toEqual(['pageview', 'event']);
  });

  it('keeps bodies within 20 hits and 8 KB, and URLs within 2,048 characters', async () => {
    const c = cfg();
    history.replaceState(null, '', '/long?q=' + 'a'.repeat(3000));
    run(c);
    for (let i = 0; i < 25; i++) w.sightline!('event', '買い物かごに入れる'.repeat(11).slice(0, 100));
    await tick();
    const b = bodies(c); // each checked to be at most 8,192 bytes
    expect(b.length).toBeGreaterThan(1);
    for (const x of b) expect(x.hits.length).toBeLessThanOrEqual(20);
    const all = b.flatMap((x) => x.hits);
    expect(all).toHaveLength(26);
    expect((all[0].url as string).length).toBe(2048);
    expect(new Set(b.map((x) => x.sessionId)).size).toBe(1);
  });

  it('without storage: one session and one visitor for the page, handed to the recorder', async () => {
    const desc = Object.getOwnPropertyDescriptor(window, 'localStorage')!;
    Object.defineProperty(window, 'localStorage', {
      configurable: true,
      get: () => {
        throw new Error('blocked');
      },
    });
    try {
      const c = cfg();
      run(c);
      w.sightline!('event', 'a');
      await tick();
      history.pushState(null, '', '/next');
      w.sightline!('event', 'b');
      await tick();
      const b = bodies(c);
      expect(b.flatMap((x) => x.hits).map((h) => h.kind)).toEqual(['pageview', 'event', 'leave', 'pageview', 'event']);
      expect(new Set(b.map((x) => x.sessionId)).size).toBe(1);
      expect(new Set(b.map((x) => x.visitorId)).size).toBe(1);
      expect((w.sightline as unknown as { s: { i: string } }).s.i).toBe(b[0].sessionId);
    } finally {
      Object.defineProperty(window, 'localStorage', desc);
    }
  });

  it('a session that ended while the page stayed open gets a new page view, in a body of its own', async () => {
    let now = Date.now();
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    const c = cfg();
    run(c);
    await tick();
    const [first] = bodies(c);
    sent = [];
    now += 31 * 60 * 1000; // idle past 30 minutes
    w.sightline!('event', 'back');
    await tick();
    const b = bodies(c);
    expect(b.map((x) => [x.sessionId == first.sessionId, x.hits.map((h) => h.kind)])).toEqual([
      [true, ['leave']],
      [false, ['pageview', 'event']],
    ]);
    expect(b[1].visitorId).toBe(first.visitorId);
    expect(b[1].hits[0].url).toBe(first.hits[0].url);
  });

  it('never throws into the page: no sendBeacon, a throwing one, a broken JSON', async () => {
    const c = cfg();
    beacon = undefined;
    expect(() => run(c)).not.toThrow();
    await tick();
    beacon = () => {
      throw new Error('nope');
    };
    expect(() => w.sightline!('event', 'x')).not.toThrow();
    await tick();
    const stringify = JSON.stringify;
    vi.spyOn(JSON, 'stringify').mockImplementation(() => {
      throw new Error('broken');
    });
    try {
      expect(() => w.sightline!('event', 'y')).not.toThrow();
      expect(() => history.pushState(null, '', '/broken')).not.toThrow();
      expect(() => hide()).not.toThrow();
    } finally {
      JSON.stringify = stringify;
    }
    await tick();
  });
});
