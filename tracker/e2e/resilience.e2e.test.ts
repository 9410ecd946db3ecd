// Pages that throw, flood the console, break globals, freeze prototypes or set a hostile CSP,
// recorded in Chromium through the real binary: the stored recording must be complete — a full
// snapshot, the page's later DOM changes, its navigation and its errors — and replay to the page's
// final text. Each fixture (e2e/fixtures/*.html) loads e2e/fixtures/later.js, which makes those
// later changes once the page has loaded.
import { describe, it, expect } from 'vitest';
import type { Page } from 'playwright-core';
import { binaryEnv } from './env';
import { capturedEnvelope, sleep } from './sightline';

interface Ev {
  type: number;
  data: any;
  timestamp: number;
}
interface Visit {
  sent: { seq: number; sessionId: string; events: Ev[] }[];
  stored: Ev[];
  pageErrors: string[];
  consoleErrors: string[];
  result: unknown;
}


const env = binaryEnv('resilience-e2e@example.org', 'Resilience E2E');

const customs = (evs: Ev[], tag: string) => evs.filter((e) => e.type === 5 && e.data.tag === tag).map((e) => e.data.payload);

// visit opens path in a fresh context (a new session), waits for the fixture's later changes,
// runs act, leaves (pagehide sends the rest) and returns what was sent and what the binary stored.
async function visit(path: string, act?: (p: Page) => Promise<unknown>, opts: { expectStored?: boolean; console?: boolean } = {}): Promise<Visit> {
  const mark = env.sl.captured.length;
  const ctx = await env.browser.newContext({ viewport: { width: 1024, height: 700 } });
  const page = await ctx.newPage();
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // (Not for the storm: 20,000 console messages through the DevTools protocol take a minute.)
  if (opts.console !== false)
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(m.text());
    });
  const sep = path.includes('?') ? '&' : '?';
  await page.goto(`${env.srv.siteOrigin}${path}${sep}k=${env.sl.site.siteKey}`);
  await page.waitForSelector('body[data-done]', { timeout: 20_000 });
  const result = act ? await act(page) : undefined;
  await sleep(1500);
  await page.goto('about:blank');
  await sleep(1500);
  await ctx.close();
  const mine = env.sl.captured.slice(mark);
  const sent = mine
    .filter((c) => c.status === 204)
    .map(capturedEnvelope);
  if (opts.expectStored === false) return { sent, stored: [], pageErrors, consoleErrors, result };
  expect(sent.length, 'batches accepted by ingest').toBeGreaterThan(0);
  const sessionId = sent[0].sessionId;
  const want = [...new Set(sent.map((e) => e.seq))].sort((a, b) => a - b);
  // Ingest → spool → forwarder → recordings, asynchronously: poll until every batch is stored.
  let stored: Ev[] = [];
  for (let i = 0; i < 150; i++) {
    const r = await env.sl.call('GET', `/api/v1/sites/${env.sl.site.id}/sessions/${sessionId}/recording`);
    if (r.status === 200) {
      const chunks = r.text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l).result);
      const seqs = chunks.map((c) => Number(c.seq ?? 0));
      if (want.every((s) => seqs.includes(s))) {
        stored = chunks.flatMap((c) => JSON.parse(Buffer.from(c.events, 'base64').toString('utf8')));
        break;
      }
    }
    await sleep(200);
  }
  expect(stored.length, 'the recording is stored').toBeGreaterThan(0);
  return { sent, stored, pageErrors, consoleErrors, result };
}

// replayText replays the stored events with rrweb's Replayer and returns the page text at the end.
async function replayText(evs: Ev[]): Promise<string> {
  const rp = await env.browser.newPage();
  try {
    await rp.goto(`${env.srv.siteOrigin}/replay.html`);
    return await rp.evaluate(async (evs: any[]) => {
      const r = new (window as any).rrwebReplay.Replayer(evs, { root: document.getElementById('player'), showWarning: false, mouseTail: false });
      r.pause(evs[evs.length - 1].timestamp - evs[0].timestamp);
      await new Promise((ok) => setTimeout(ok, 500));
      return (r.iframe.contentDocument as Document).body.textContent || '';
    }, evs);
  } finally {
    await rp.close();
  }
}

// complete: a full snapshot, the later DOM changes (as mutations and in the replay), the
// navigation and the later page error are all in the stored recording; the tracker never failed.
async function complete(v: Visit, heading: string) {
  const types = v.stored.map((e) => e.type);
  expect(types).toContain(4);
  expect(types).toContain(2);
  const full = types.indexOf(2);
  const mutations = v.stored.slice(full).filter((e) => e.type === 3 && e.data.source === 0);
  expect(JSON.stringify(mutations)).toContain('LATER-CHANGE-TWO');
  expect(customs(v.stored, 'sl:navigation').some((n) => String(n.url).endsWith('#later'))).toBe(true);
  expect(customs(v.stored, 'sl:error').some((e) => e.source === 'exception' && e.message.includes('LATER-PAGE-ERROR'))).toBe(true);
  expect(customs(v.stored, 'sl:error').filter((e) => e.source === 'tracker')).toEqual([]);
  const text = await replayText(v.stored);
  expect(text).toContain(heading);
  expect(text).toContain('LATER-CHANGE-TWO');
  // Only the fixture's own errors reached the page.
  for (const e of v.pageErrors) expect(e).toMatch(/DCL-HANDLER-THROWS|INLINE-THROWS-BEFORE-TRACKER|INLINE-REJECTION|LATER-PAGE-ERROR/);
}

describe('a recorder that never gives up on a page with errors (real binary)', () => {
  it('DOMContentLoaded handler throws and logs before the first full snapshot: queued, sent after it, recording complete', async () => {
    const v = await visit('/fixtures/err-dcl.html', (p) => p.evaluate(() => [(window as any).__recorderAtDcl, (window as any).__loadedAtDcl]));
    expect(v.result, 'the recorder ran at DOMContentLoaded, before the load event (rrweb snapshots at load)').toEqual([true, false]);
    await complete(v, 'Errors before the first snapshot');
    const errs = customs(v.stored, 'sl:error');
    expect(errs.some((e) => e.source === 'console' && e.message.includes('DCL-CONSOLE-ERROR'))).toBe(true);
    expect(errs.some((e) => e.source === 'exception' && e.message.includes('DCL-HANDLER-THROWS'))).toBe(true);
    // The held events follow the full snapshot, in their order.
    const full = v.stored.findIndex((e) => e.type === 2);
    const iConsole = v.stored.findIndex((e) => e.type === 5 && String(e.data.payload.message).includes('DCL-CONSOLE-ERROR'));
    const iThrow = v.stored.findIndex((e) => e.type === 5 && String(e.data.payload.message).includes('DCL-HANDLER-THROWS'));
    expect(full).toBeGreaterThan(-1);
    expect(iConsole).toBeGreaterThan(full);
    expect(iThrow).toBeGreaterThan(iConsole);
  });

  it('inline script throws before the tracker loads; API calls queued early arrive after the snapshot', async () => {
    const v = await visit('/fixtures/err-inline.html');
    await complete(v, 'Errors before the tracker loads');
    expect(customs(v.stored, 'sl:identify').map((x) => x.userId)).toEqual(['early-user']);
    expect(customs(v.stored, 'sl:event').map((x) => x.name)).toEqual(['early-event']);
  });

  it('console.error storm: 10,000 calls, at most 50 reported, recording goes on, page not slowed', async () => {
    const ms = (p: Page) => p.evaluate(() => (window as any).storm() as number);
    // The same storm without the recorder, for comparison: best of three each, on a shared machine.
    const base: number[] = [];
    for (let i = 0; i < 3; i++) {
      const ctx = await env.browser.newContext();
      const p = await ctx.newPage();
      await p.goto(`${env.srv.siteOrigin}/fixtures/console-storm.html?norec=1`);
      base.push(await ms(p));
      await ctx.close();
    }
    const v = await visit('/fixtures/console-storm.html', async (p) => {
      await p.waitForFunction(() => (window as any).sightline && (window as any).sightline.r === 1);
      const t = [await ms(p), await ms(p), await ms(p)];
      await p.evaluate(() => {
        const q = document.createElement('p');
        q.textContent = 'AFTER-STORM';
        document.body.appendChild(q);
      });
      return t;
    }, { console: false });
    await complete(v, 'console.error storm');
    // 50 page errors per page view (the fixture's own uncaught error is one of them).
    expect(customs(v.stored, 'sl:error').filter((e) => e.source !== 'tracker').length).toBe(50);
    const storm = customs(v.stored, 'sl:error').filter((e) => e.source === 'console');
    expect(storm.length).toBeGreaterThanOrEqual(48);
    expect(storm[0].message).toBe('STORM 0 {"i":0}');
    expect(JSON.stringify(v.stored)).toContain('AFTER-STORM');
    const withRec = Math.min(...(v.result as number[]));
    const without = Math.min(...base);
    console.log(`console.error ×10,000: ${without.toFixed(0)} ms without the recorder, ${withRec.toFixed(0)} ms with it`);
    expect(withRec).toBeLessThan(without * 1.5 + 100);
  });

  it('overridden globals (Array.from, JSON, Promise, Object.assign, Map, setTimeout): recording complete', async () => {
    const v = await visit('/fixtures/globals.html');
    await complete(v, 'Broken globals');
  });

  it('frozen prototypes (Array, Function, EventTarget, History): recording complete, navigation recorded', async () => {
    const v = await visit('/fixtures/frozen.html');
    await complete(v, 'Frozen prototypes');
  });

  it("strict CSP (script-src 'self' + ingest, connect-src ingest only): recording complete", async () => {
    const v = await visit('/fixtures/csp.html?csp=strict&stub=0');
    await complete(v, 'Strict CSP');
    expect(v.consoleErrors.filter((m) => m.includes('Content Security Policy'))).toEqual([]);
  });

  it('CSP forbidding the ingest origin: nothing sent, nothing thrown, one refused attempt in the console', async () => {
    const v = await visit('/fixtures/csp.html?csp=block&stub=0', async (p) => {
      await p.waitForFunction(() => (window as any).sightline && (window as any).sightline.r === 1);
      await sleep(8000); // the first batch (1 s) and what would be its retries
      return p.evaluate(() => document.body.getAttribute('data-done'));
    }, { expectStored: false });
    expect(v.result).toBe('1'); // the page itself ran on
    expect(v.sent).toEqual([]);
    expect(v.pageErrors.filter((e) => !e.includes('LATER-PAGE-ERROR'))).toEqual([]);
    // Chromium logs each refused request (twice: the violation and fetch's refusal); one attempt only.
    const attempts = v.consoleErrors.filter((m) => m.startsWith('Connecting to') && m.includes('/i/v1/batch'));
    expect(attempts.length, v.consoleErrors.join('\n')).toBeLessThanOrEqual(1);
    expect(v.consoleErrors.filter((m) => m.includes('/i/v1/batch') && !/violates the following Content Security Policy|Refused to connect/.test(m))).toEqual([]);
  });
});
