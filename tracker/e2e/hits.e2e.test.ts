// Traffic beacons in Chromium: a real page on one origin sends its hits to a capturing ingest on
// another (e2e/server.mjs) — page view at load, SPA navigations by pushState and popstate, custom
// events before and after the recorder loaded, the leave when the page is left — as CORS-simple
// sendBeacon requests (no preflight), with the recorder's session and visitor ids.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync, mkdirSync } from 'node:fs';
import type { HitBody as Body } from '../test/hitbody';
import type { Browser, Page } from 'playwright-core';
import { sleep, until as poll } from './poll';
// @ts-expect-error plain ES module
import { startServers } from './server.mjs';
// @ts-expect-error plain ES module
import { launch } from './browser.mjs';

interface Hit {
  raw: Buffer;
  method: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body?: Body;
}
interface Servers {
  siteOrigin: string;
  ingestOrigin: string;
  hits: Hit[];
  batches(): { sessionId: string; visitorId: string; events: { type: number; data: any }[] }[];
  close(): Promise<void>;
}

const CONFIGS = {
  k_hits_out: { hits: true, sampleRate: 0 },
  k_hits_rec: { hits: true, sampleRate: 1 },
  k_hits_dnt: { hits: true },
  k_hits_none: {}, // no hitEndpoint: an ingest that forwards no traffic
};

let browser: Browser;
let srv: Servers;
beforeAll(async () => {
  browser = await launch();
  srv = await startServers({ configs: CONFIGS });
});
afterAll(async () => {
  if (process.env.UPDATE_TESTDATA && srv) {
    // UPDATE_TESTDATA=1 npm run e2e: keep a real Chromium body with the most hits (ingest's tests
    // and fuzz seeds can use it).
    const best = srv.hits.filter((h) => h.body).reduce((a, b) => (b.body!.hits.length > a.body!.hits.length ? b : a));
    mkdirSync('e2e/testdata', { recursive: true });
    writeFileSync('e2e/testdata/real-hits.json', best.raw.toString('utf8') + '\n');
  }
  await browser?.close();
  await srv?.close();
});

// Beacons come quickly: a shorter wait, polled more often.
const until = <T,>(what: string, f: () => T | undefined | false, ms = 15_000) => poll(what, f, ms, 50);
const of = (key: string) => srv.hits.filter((h) => h.query.get('k') === key);
const bodies = (key: string) => of(key).filter((h) => h.method === 'POST').map((h) => h.body!);
const flat = (key: string) => bodies(key).flatMap((b) => b.hits);

describe('traffic beacons in Chromium', () => {
  it('a visitor not sampled in: page views at load and on SPA navigations, events, the leave', async () => {
    const key = 'k_hits_out';
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, screen: { width: 1920, height: 1080 } });
    const page: Page = await ctx.newPage();
    const home = `${srv.siteOrigin}/spa/home?k=${key}&utm_source=mail`;
    await page.goto(home);
    await until('the page view', () => flat(key).length >= 1);
    const [first] = bodies(key);
    const stored = await page.evaluate((k) => ({ s: JSON.parse(localStorage.getItem(`_sl_${k}_s`)!), v: localStorage.getItem(`_sl_${k}_v`) }), key);
    expect(first).toEqual({
      v: 1,
      sessionId: stored.s.i,
      visitorId: stored.v,
      recorded: false,
      screen: [1920, 1080],
      hits: [{ kind: 'pageview', pageViewId: expect.stringMatching(/^p_[0-9a-f]{32}$/), time: expect.any(Number), url: home, referrer: '' }],
    });
    expect(stored.s.p).toBe(0);

    // The request as it left the browser: a CORS-simple POST, no preflight.
    const req = of(key)[0];
    expect(req.method).toBe('POST');
    expect(req.headers['content-type']).toBe('text/plain;charset=UTF-8');
    expect(req.headers.origin).toBe(srv.siteOrigin);

    await page.click('a[href="/spa/pricing"]'); // pushState
    await until('the navigation', () => flat(key).length >= 3);
    const [leave, pricing] = flat(key).slice(1);
    expect(leave).toMatchObject({ kind: 'leave', pageViewId: first.hits[0].pageViewId });
    expect(leave.duration).toBeGreaterThanOrEqual(0);
    expect(pricing).toMatchObject({ kind: 'pageview', url: `${srv.siteOrigin}/spa/pricing`, referrer: home });
    expect(pricing.pageViewId).not.toBe(first.hits[0].pageViewId);

    await page.evaluate(() => (window as any).sightline('event', 'signup', { plan: 'pro' }));
    await until('the event', () => flat(key).length >= 4);
    expect(flat(key)[3]).toMatchObject({ kind: 'event', name: 'signup', pageViewId: pricing.pageViewId });

    await page.goBack(); // popstate
    await until('the popstate page view', () => flat(key).length >= 6);
    expect(flat(key).slice(4).map((h) => [h.kind, h.url ?? '', h.referrer ?? ''])).toEqual([
      ['leave', '', ''],
      ['pageview', home, `${srv.siteOrigin}/spa/pricing`],
    ]);

    // Leaving the page (pagehide / hidden): the last page view's end still goes out.
    const before = flat(key).length;
    await page.goto(`${srv.siteOrigin}/fixtures/form.html?norec=1`);
    await until('the leave on pagehide', () => flat(key).length > before);
    const last = flat(key).slice(before);
    expect(last.every((h) => h.kind === 'leave' && h.pageViewId === flat(key)[5].pageViewId)).toBe(true);

    expect(new Set(bodies(key).map((b) => b.sessionId))).toEqual(new Set([stored.s.i]));
    expect(of(key).filter((h) => h.method !== 'POST')).toEqual([]); // never a preflight
    await ctx.close();
  });

  it('a recorded visitor: same ids as the recording, events after the recorder took the global over', async () => {
    const key = 'k_hits_rec';
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.addInitScript(() => ((window as any).sightline = Object.assign(function () {}, { q: [['event', 'early']] })));
    await page.goto(`${srv.siteOrigin}/spa/home?k=${key}&stub=0`);
    await until('page view and queued event', () => flat(key).length >= 2);
    expect(flat(key).map((h) => h.name ?? h.kind)).toEqual(['pageview', 'early']);
    await page.waitForFunction(() => (window as any).sightline && (window as any).sightline.r === 1 && !(window as any).sightline.q);
    await page.evaluate(() => (window as any).sightline('event', 'late'));
    await until('the late event', () => flat(key).some((h) => h.name === 'late'));
    const b = bodies(key);
    expect(b.every((x) => x.recorded)).toBe(true);
    const batch = await until('a batch', () => srv.batches().find((x) => b[0].sessionId === x.sessionId));
    expect(batch.visitorId).toBe(b[0].visitorId);
    // The recorder keeps recording the event too.
    await until('the recorded event', () => srv.batches().some((x) => x.sessionId === b[0].sessionId && x.events.some((e) => e.type === 5 && e.data.tag === 'sl:event' && e.data.payload.name === 'late')));
    await ctx.close();
  });

  it('nothing under Do-Not-Track, nothing without hitEndpoint', async () => {
    const ctx = await browser.newContext({ extraHTTPHeaders: { DNT: '1' } });
    await ctx.addInitScript(() => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' }));
    const page = await ctx.newPage();
    await page.goto(`${srv.siteOrigin}/spa/home?k=k_hits_dnt`);
    await page.evaluate(() => (window as any).sightline('event', 'x'));
    const ctx2 = await browser.newContext();
    const page2 = await ctx2.newPage();
    await page2.goto(`${srv.siteOrigin}/spa/home?k=k_hits_none`);
    await page2.waitForFunction(() => (window as any).sightline && (window as any).sightline.r === 1); // the recorder runs
    await page2.evaluate(() => (window as any).sightline('event', 'x'));
    await page.close();
    await page2.close();
    await sleep(500);
    expect(of('k_hits_dnt')).toEqual([]);
    expect(of('k_hits_none')).toEqual([]);
    await ctx.close();
    await ctx2.close();
  });
});
