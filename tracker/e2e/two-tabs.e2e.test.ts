// Two tabs of one session that take the same seq: both batches must be stored and replayed. The
// tracker allocates seq from a localStorage counter, which has no compare-and-set, so two tabs
// flushing in the same few milliseconds can both read it before either writes it. Recordings keys
// a chunk by (site, session, seq, page view), so neither batch is taken for a re-delivery of the
// other. Against the real binary: `sightline serve`, a site made through the REST API, Chromium.
import { describe, it, expect } from 'vitest';
import type { Page } from 'playwright-core';
import { binaryEnv } from './env';
import { capturedEnvelope, sleep } from './sightline';


const env = binaryEnv('two-tabs-e2e@example.org', 'Two tabs');

// The tracker's shared seq counter is localStorage['_sl_<site key>_n'].
const counterKey = /^_sl_.+_n$/;

describe('two tabs of one session against the real binary', () => {
  it('stores and replays both batches when both tabs take the same seq', async () => {
    const ctx = await env.browser.newContext();
    // Make the race certain rather than lucky: each tab reads the shared counter and its write
    // never lands, as when both tabs read before either writes. No write means no storage event
    // either, so each tab numbers its batches 0, 1, 2… from its own floor and every seq collides.
    // The session itself (its own key) is shared as in production.
    await ctx.addInitScript((src: string) => {
      const re = new RegExp(src);
      const set = Storage.prototype.setItem;
      Storage.prototype.setItem = function (this: Storage, k: string, v: string) {
        if (re.test(k)) return;
        return set.call(this, k, v);
      };
    }, counterKey.source);
    const url = `${env.srv.siteOrigin}/fixtures/form.html?k=${env.sl.site.siteKey}`;
    const open = async (): Promise<Page> => {
      const p = await ctx.newPage();
      await p.goto(url);
      await p.waitForFunction(() => (window as any).sightline && (window as any).sightline.r === 1);
      return p;
    };
    const tabA = await open();
    const tabB = await open(); // after A: it joins A's session from localStorage
    const sessionOf = (p: Page) =>
      p.evaluate(() => {
        for (let i = 0; i < localStorage.length; i++) {
          const k = localStorage.key(i)!;
          if (/^_sl_.+_s$/.test(k)) return JSON.parse(localStorage.getItem(k)!).i as string;
        }
        return '';
      });
    const sessionId = await sessionOf(tabA);
    expect(sessionId).not.toBe('');
    expect(await sessionOf(tabB)).toBe(sessionId);

    await Promise.all([tabA.type('#search', 'words typed in tab A', { delay: 5 }), tabB.type('#search', 'words typed in tab B', { delay: 5 })]);
    // Both tabs flush at the same moment: they are left together (page hide → sendBeacon).
    await Promise.all([tabA.goto('about:blank'), tabB.goto('about:blank')]);
    await sleep(1500);
    await ctx.close();

    expect(env.sl.captured.length).toBeGreaterThan(1);
    const statuses = env.sl.captured.map((c) => c.status);
    expect(statuses.every((s) => s === 204), `statuses ${statuses} ${env.sl.logs().slice(-2000)}`).toBe(true);
    const envs = env.sl.captured.map(capturedEnvelope);
    expect(envs.every((e) => e.sessionId === sessionId)).toBe(true);
    const pageViews = [...new Set(envs.map((e) => e.pageViewId as string))];
    expect(pageViews.length).toBe(2);
    const key = (seq: number, pv: string) => `${seq}/${pv}`;
    const sent = [...new Set(envs.map((e) => key(e.seq, e.pageViewId)))];
    // The collision happened: one seq, two different batches.
    const seqsOf = (pv: string) => new Set(envs.filter((e) => e.pageViewId === pv).map((e) => e.seq as number));
    const shared = [...seqsOf(pageViews[0])].filter((q) => seqsOf(pageViews[1]).has(q));
    expect(shared.length, `seqs per tab: ${sent}`).toBeGreaterThan(0);

    // Ingest → spool → forwarder → recordings, asynchronously: poll until every batch is streamed.
    const want = envs
      .map((e) => ({ seq: e.seq as number, pv: e.pageViewId as string }))
      .filter((x, i, all) => all.findIndex((y) => y.seq === x.seq && y.pv === x.pv) === i)
      .sort((a, b) => a.seq - b.seq || (a.pv < b.pv ? -1 : a.pv > b.pv ? 1 : 0))
      .map((x) => key(x.seq, x.pv));
    let chunks: any[] = [];
    for (let i = 0; i < 150; i++) {
      const rec = await env.sl.call('GET', `/api/v1/sites/${env.sl.site.id}/sessions/${sessionId}/recording`);
      if (rec.status === 200) {
        chunks = rec.text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l).result).filter(Boolean);
        if (chunks.length >= want.length) break;
      }
      await sleep(200);
    }
    const got = chunks.map((c) => key(Number(c.seq ?? 0), c.pageViewId)); // proto3 JSON leaves out 0
    expect(got, `streamed ${got}, sent ${want}\n${env.sl.logs().slice(-2000)}`).toEqual(want);
    // Each tab's own events are there, whichever tab's batch of a shared seq came first.
    const stored = chunks.map((c) => Buffer.from(c.events, 'base64').toString('utf8')).join('\n');
    expect(stored).toContain('words typed in tab A');
    expect(stored).toContain('words typed in tab B');
  });
});
