// Heatmap data in Chromium: a responsive fixture page (three columns wide, one column narrow) at
// two widths; clicks at known places in known elements, a scroll to a known depth. The batches
// that reach the capturing intake must open with sl:view (scroll, document size, viewport, the
// document's node id) and carry an sl:click after each of rrweb's clicks whose selector finds the
// clicked element again at both widths, with the place in its box within ±2 %.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { sleep, until } from './poll';
// @ts-expect-error plain ES module
import { startServers } from './server.mjs';
// @ts-expect-error plain ES module
import { launch } from './browser.mjs';

interface Ev {
  type: number;
  data: any;
  timestamp: number;
}
interface Envelope {
  pageViewId: string;
  seq: number;
  events: Ev[];
}
interface Servers {
  siteOrigin: string;
  requests: { method: string; envelope?: Envelope; status: number }[];
  batches(): Envelope[];
  close(): Promise<void>;
}

let browser: Browser;
let srv: Servers;
beforeAll(async () => {
  browser = await launch();
  srv = await startServers({ configs: { k_heat: {} } });
});
afterAll(async () => {
  await browser?.close();
  await srv?.close();
});

const customs = (es: Envelope[], tag: string) => es.flatMap((e) => e.events).filter((e) => e.type === 5 && e.data.tag === tag);

// What was clicked, where (fractions of its box), and what the selector must find again.
const TARGETS: { t: string; fx: number; fy: number; sel?: string }[] = [
  { t: 'home', fx: 0.2, fy: 0.5 },
  { t: 'escaped', fx: 0.9, fy: 0.1, sel: 'a#x\\:1\\ b' }, // an id that needs CSS escapes
  { t: 'buy-1', fx: 0.1, fy: 0.9 },
  { t: 'buy-2', fx: 0.5, fy: 0.3 }, // id "item-20251129" looks generated: not used
  { t: 'buy-3', fx: 0.75, fy: 0.25, sel: 'div#featured>button' },
  { t: 'promo', fx: 0.3, fy: 0.6, sel: 'html>body>main>x-promo' }, // a button in its shadow root
  { t: 'cta', fx: 0.95, fy: 0.95, sel: 'button#cta' },
];

interface Visit {
  width: number;
  clicks: { t: string; s: string; rx: number; ry: number; id: number }[];
  es: Envelope[];
}

async function visit(width: number): Promise<Visit> {
  const ctx = await browser.newContext({ viewport: { width, height: 700 } });
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${srv.siteOrigin}/fixtures/heat.html?k=k_heat&w=${width}`);
  await page.waitForFunction(() => (window as any).sightline && (window as any).sightline.r === 1);
  const mine = () => srv.batches().filter((e) => e.events.some((x) => x.type === 4 && String(x.data.href).includes(`w=${width}`)));
  const pv = (await until('first batch', () => mine()[0])).pageViewId;
  const batches = () => srv.batches().filter((e) => e.pageViewId === pv);

  // Click each target at a known place in its box (scrolled into view first: the page moves).
  for (const { t, fx, fy } of TARGETS) {
    const box = await page.evaluate((t) => {
      const el = document.querySelector(`[data-t="${t}"]`)!;
      el.scrollIntoView({ block: 'center' });
      const r = el.getBoundingClientRect();
      return { x: r.left, y: r.top, w: r.width, h: r.height };
    }, t);
    await sleep(200);
    await page.mouse.click(box.x + box.w * fx, box.y + box.h * fy);
    await sleep(100);
  }
  // A keyboard click: no pointer position, counted in the middle of the element.
  await page.focus('[data-t="pricing"]');
  await page.keyboard.press('Enter');
  const want = TARGETS.length + 1;
  await until('sl:click events', () => customs(batches(), 'sl:click').length >= want && true);

  // A scroll to a known depth; once rrweb's scroll event is out, the next batch opens with it.
  const depth = await page.evaluate(() => {
    window.scrollTo(0, 1234);
    return window.scrollY;
  });
  await until('the scroll flushed', () =>
    batches().some((e) => e.events.some((x) => x.type === 3 && x.data.source === 3 && x.data.y === depth)) && true,
  );
  const page0 = await page.evaluate(() => ({
    w: document.documentElement.scrollWidth,
    h: Math.max(document.documentElement.scrollHeight, document.body.scrollHeight),
    v: window.innerHeight,
    x: window.scrollX,
  }));
  await page.evaluate(() => (window as any).sightline('event', 'after-scroll'));
  const after = await until('the batch after the scroll', () =>
    batches().find((e) => e.events.some((x) => x.type === 5 && x.data.tag === 'sl:event' && x.data.payload.name === 'after-scroll')),
  );
  expect(after.events[0].data.tag).toBe('sl:view');
  expect(after.events[0].data.payload).toMatchObject({ x: page0.x, y: depth, w: page0.w, h: page0.h, v: page0.v });
  expect(page0.h).toBeGreaterThan(page0.v * 4); // the page really is much taller than the screen
  expect(depth).toBe(1234);

  // Every batch opens with sl:view and holds only that one; the first opens with Meta (no node
  // id yet), the later ones carry the document's node id from the full snapshot.
  const es = batches().sort((a, b) => a.seq - b.seq);
  const snap = es.flatMap((e) => e.events).find((x) => x.type === 2)!;
  expect(snap.data.node.type).toBe(0); // the Document node
  for (const [i, e] of es.entries()) {
    const v = e.events[0];
    expect(v.type === 5 && v.data.tag, `batch ${e.seq}`).toBe('sl:view');
    expect(customs([e], 'sl:view').length).toBe(1);
    expect(v.timestamp).toBe(e.events[1].timestamp);
    const p = v.data.payload;
    for (const k of ['x', 'y', 'w', 'h', 'v', 'd']) expect(Number.isInteger(p[k]), k).toBe(true);
    expect(p.w).toBe(page0.w);
    expect(p.v).toBe(page0.v);
    if (i === 0) {
      expect(e.events[1].type).toBe(4);
      expect(p.d).toBe(-1);
    } else expect(p.d).toBe(snap.data.node.id);
  }

  // Each sl:click follows rrweb's click of the same node.
  const evs = es.flatMap((e) => e.events);
  const clicks: Visit['clicks'] = [];
  const order = [...TARGETS.map((x) => x.t), 'pricing'];
  let at = 0;
  for (const t of order) {
    const rr = evs.findIndex((x, i) => i >= at && x.type === 3 && x.data.source === 2 && x.data.type === 2);
    expect(rr, t).toBeGreaterThanOrEqual(0);
    const sl = evs.findIndex((x, i) => i > rr && x.type === 5 && x.data.tag === 'sl:click');
    expect(sl, t).toBeGreaterThan(rr);
    const p = evs[sl].data.payload;
    expect(p.id, t).toBe(evs[rr].data.id);
    clicks.push({ t, ...p });
    at = sl + 1;
  }
  expect(customs(es, 'sl:click').length).toBe(order.length);
  expect(customs(es, 'sl:error')).toEqual([]);
  expect(errors).toEqual([]);
  await ctx.close();
  return { width, clicks, es };
}

describe('heatmap events in Chromium', () => {
  const visits: Visit[] = [];

  it('wide (1280 px): sl:view opens every batch, sl:click after each click', async () => {
    visits.push(await visit(1280));
  });

  it('narrow (400 px): the same elements, moved', async () => {
    visits.push(await visit(400));
  });

  it('selectors find the clicked element at both widths; offsets within ±2 %', async () => {
    expect(visits.length).toBe(2);
    for (const v of visits) {
      for (const c of v.clicks) {
        const tgt = TARGETS.find((x) => x.t === c.t);
        if (tgt) {
          expect(Math.abs(c.rx - tgt.fx * 100), `${v.width} ${c.t} rx`).toBeLessThanOrEqual(2);
          expect(Math.abs(c.ry - tgt.fy * 100), `${v.width} ${c.t} ry`).toBeLessThanOrEqual(2);
          if (tgt.sel) expect(c.s, c.t).toBe(tgt.sel);
        } else {
          expect([c.rx, c.ry], 'keyboard click').toEqual([50, 50]);
        }
        expect(c.s.length).toBeLessThanOrEqual(200);
        expect(c.s).not.toContain('item-20251129');
      }
      // Nothing of the page's text (masked or not) is in a selector.
      const all = JSON.stringify(v.clicks);
      expect(all).not.toContain('PRIVATE-CARD-TITLE');
      expect(all).not.toMatch(/Buy|Shadow offer|Sign up/);
    }
    // The narrow layout really moved the elements.
    const pos: Record<number, Record<string, number>> = {};
    for (const width of [1280, 400]) {
      const ctx = await browser.newContext({ viewport: { width, height: 700 } });
      const page: Page = await ctx.newPage();
      await page.goto(`${srv.siteOrigin}/fixtures/heat.html?norec=1`);
      const sels = visits.flatMap((v) => v.clicks.map((c) => ({ t: c.t, s: c.s })));
      const found = await page.evaluate((sels) => sels.map(({ s }) => (document.querySelector(s) as HTMLElement | null)?.dataset.t ?? null), sels);
      expect(found).toEqual(sels.map((x) => x.t));
      pos[width] = await page.evaluate(() => {
        const r = document.querySelector('[data-t="buy-3"]')!.getBoundingClientRect();
        return { x: r.left, y: r.top };
      });
      await ctx.close();
    }
    expect(pos[1280].x).not.toBe(pos[400].x);
    expect(pos[1280].y).not.toBe(pos[400].y);
  });
});
