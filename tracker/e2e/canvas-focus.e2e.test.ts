// Canvas recording (opt-in per site, sampled, bounded bytes per minute) and focus recording
// (sl:focus), in Chromium against the fixture servers: a Chart.js chart (from npm, served by the
// page's origin) recorded with recordCanvas true and false, a canvas of noise that runs over the
// byte budget, and focus moved by mouse and keyboard.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { sleep } from './poll';
// @ts-expect-error plain ES module
import { startServers } from './server.mjs';
// @ts-expect-error plain ES module
import { launch } from './browser.mjs';

interface Ev {
  type: number;
  data: any;
  timestamp: number;
}
let browser: Browser;
let srv: { siteOrigin: string; requests: { envelope?: { events: Ev[] }; status: number }[]; close(): Promise<void> };
const CANVAS_BUDGET = 2 * 1024 * 1024;

beforeAll(async () => {
  browser = await launch();
  srv = await startServers({ configs: { k_canvas: { recordCanvas: true }, k_plain: {} } });
});
afterAll(async () => {
  await browser?.close();
  await srv?.close();
});

const customs = (evs: Ev[], tag: string) => evs.filter((e) => e.type === 5 && e.data.tag === tag).map((e) => e.data.payload);
const canvasEvents = (evs: Ev[]) => evs.filter((e) => e.type === 3 && e.data.source === 9);

async function record(path: string, key: string, act: (p: Page) => Promise<unknown>, init?: () => void): Promise<Ev[]> {
  const mark = srv.requests.length;
  const ctx = await browser.newContext({ viewport: { width: 1024, height: 900 } });
  const page = await ctx.newPage();
  if (init) await page.addInitScript(init);
  const sep = path.includes('?') ? '&' : '?';
  await page.goto(`${srv.siteOrigin}${path}${sep}k=${key}`);
  await page.waitForFunction(() => (window as any).sightline && (window as any).sightline.r === 1);
  await act(page);
  await page.goto('about:blank');
  await sleep(1500);
  await ctx.close();
  return srv.requests.slice(mark).filter((r) => r.status === 204 && r.envelope).flatMap((r) => r.envelope!.events);
}

// nodeIds maps rrweb node ids to the element id attribute, from the full snapshot.
function nodeIds(evs: Ev[]): Map<number, string> {
  const out = new Map<number, string>();
  const walk = (n: any) => {
    if (n.attributes && n.attributes.id) out.set(n.id, n.attributes.id);
    (n.childNodes || []).forEach(walk);
  };
  for (const e of evs) if (e.type === 2) walk(e.data.node);
  return out;
}

describe('canvas recording', () => {
  it('recordCanvas true: the chart is recorded (snapshot image + sampled frames) and replays drawn; false: no canvas data', async () => {
    const on = await record('/fixtures/chart.html', 'k_canvas', () => sleep(6000));
    const frames = canvasEvents(on);
    expect(frames.length).toBeGreaterThan(2);
    expect(frames.length).toBeLessThan(6 * 3 + 4); // sampled at 2 per second, not per draw call
    expect(JSON.stringify(frames[0])).toContain('image/webp');
    expect(JSON.stringify(on.filter((e) => e.type === 2))).toContain('rr_dataURL');
    const bytes = frames.reduce((n, e) => n + JSON.stringify(e).length, 0);
    console.log(`chart.js canvas, 6 s: ${frames.length} frames, ${(bytes / 1024).toFixed(1)} KiB of canvas events`);
    expect(bytes).toBeLessThanOrEqual(CANVAS_BUDGET);
    expect(customs(on, 'sl:canvas-budget')).toEqual([]);

    // The replayed chart is drawn: its canvas has coloured pixels.
    const rp = await browser.newPage();
    await rp.goto(`${srv.siteOrigin}/replay.html`);
    const drawn = await rp.evaluate(async (evs: any[]) => {
      const r = new (window as any).rrwebReplay.Replayer(evs, { root: document.getElementById('player'), showWarning: false, mouseTail: false, UNSAFE_replayCanvas: true });
      r.pause(evs[evs.length - 1].timestamp - evs[0].timestamp);
      await new Promise((ok) => setTimeout(ok, 1500));
      const c = (r.iframe.contentDocument as Document).getElementById('chart') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let blue = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 150 && d[i] < 120 && d[i + 3] > 0) blue++;
      return blue;
    }, on);
    await rp.close();
    expect(drawn, 'pixels of the blue line in the replayed chart').toBeGreaterThan(50);

    const off = await record('/fixtures/chart.html', 'k_plain', () => sleep(3000));
    expect(off.some((e) => e.type === 2)).toBe(true);
    expect(canvasEvents(off)).toEqual([]);
    expect(JSON.stringify(off)).not.toContain('rr_dataURL');
  });

  it('a canvas of noise runs over the budget: canvas bytes stay ≤ 2 MiB a minute, sampling pauses, one sl:canvas-budget, the DOM is still recorded', async () => {
    const reads: number[] = [];
    const evs = await record('/fixtures/chart.html?noise=1', 'k_canvas', async (p) => {
      // Canvas read-backs (rrweb's samples) counted by the page: they stop once over budget.
      const count = () => p.evaluate(() => (window as any).__bitmaps as number);
      await sleep(5000);
      reads.push(await count());
      await sleep(3000);
      reads.push(await count());
      await p.evaluate(() => {
        const q = document.createElement('p');
        q.textContent = 'AFTER-BUDGET';
        document.body.appendChild(q);
      });
      await sleep(1000);
    }, () => {
      const orig = window.createImageBitmap;
      (window as any).__bitmaps = 0;
      window.createImageBitmap = function (this: unknown, ...a: unknown[]) {
        (window as any).__bitmaps++;
        return (orig as any).apply(window, a);
      } as typeof orig;
    });
    expect(reads[0]).toBeGreaterThan(0);
    expect(reads[1], `canvas read-backs at 5 s and 8 s: ${reads}`).toBe(reads[0]);
    const frames = canvasEvents(evs);
    const bytes = frames.reduce((n, e) => n + JSON.stringify(e).length, 0);
    console.log(`noise canvas, 9 s: ${frames.length} frames sent, ${(bytes / 1024).toFixed(1)} KiB`);
    expect(frames.length).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(CANVAS_BUDGET);
    const budget = customs(evs, 'sl:canvas-budget');
    expect(budget.length).toBe(1);
    expect(budget[0].limit).toBe(CANVAS_BUDGET);
    expect(JSON.stringify(evs)).toContain('AFTER-BUDGET');
  });
});

describe('canvas recording under a CSP that forbids its worker', () => {
  it('the page is still recorded: Chromium refuses the blob: worker, nothing throws, no tracker failure', async () => {
    const evs = await record('/fixtures/csp.html?csp=strict&stub=0', 'k_canvas', async (p) => {
      await p.waitForSelector('body[data-done]');
      await sleep(1500);
    });
    expect(evs.filter((e) => e.type === 2).length).toBeGreaterThan(0);
    expect(JSON.stringify(evs.filter((e) => e.type === 3 && e.data.source === 0))).toContain('LATER-CHANGE-TWO');
    expect(customs(evs, 'sl:error').filter((e) => e.source === 'tracker')).toEqual([]);
  });
});

describe('focus recording', () => {
  it('sl:focus carries the mirror id and :focus-visible, one per change, and follows a full snapshot when something is focused', async () => {
    const evs = await record('/fixtures/chart.html', 'k_plain', async (p) => {
      await sleep(1500);
      await p.click('#b1'); // mouse: no focus ring on a button
      await sleep(300);
      await p.keyboard.press('Tab'); // keyboard: ring
      await sleep(300);
      await p.click('#field'); // a text field shows its ring however focused
      await sleep(300);
      await p.click('h1'); // focus leaves to the body
      await sleep(1200);
    });
    const ids = nodeIds(evs);
    const focus = customs(evs, 'sl:focus').map((f) => ({ el: f.id === null ? null : ids.get(f.id), visible: f.visible }));
    expect(focus).toEqual([
      { el: 'b1', visible: false },
      { el: 'b2', visible: true },
      { el: 'field', visible: true },
      { el: null, visible: false },
    ]);

    const pre = await record('/fixtures/chart.html?focus=1', 'k_plain', () => sleep(1500));
    const full = pre.findIndex((e) => e.type === 2);
    const first = pre.findIndex((e) => e.type === 5 && e.data.tag === 'sl:focus');
    expect(first).toBe(full + 1);
    expect(nodeIds(pre).get(pre[first].data.payload.id)).toBe('field');
  });
});
