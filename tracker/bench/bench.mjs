// make bench-tracker: main-thread time of a mutation-heavy page (e2e/fixtures/mutations.html) over
// BENCH_SECONDS (default 30) in Debian's Chromium, without and with the recorder, measured with the
// DevTools protocol's Performance.getMetrics (TaskDuration = all main-thread tasks, ScriptDuration
// = JavaScript). The page does a fixed amount of DOM work per animation frame, and a loaded machine
// drops frames, so the headline is main-thread time per frame; the runs alternate (without, with,
// without, with: BENCH_SECONDS/2 each) so drift in machine load hits both sides alike.
import { startServers } from '../e2e/server.mjs';
import { launch } from '../e2e/browser.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS || 30);
const WARMUP_MS = 3000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(browser, url) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Performance.enable', { timeDomain: 'threadTicks' });
  await page.goto(url);
  await sleep(WARMUP_MS); // recorder loaded, full snapshot taken
  const metrics = async () => {
    const { metrics } = await cdp.send('Performance.getMetrics');
    const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
    m.ticks = await page.evaluate(() => window.tick);
    return m;
  };
  const a = await metrics();
  await sleep((SECONDS * 1000) / 2);
  const b = await metrics();
  await ctx.close();
  const d = (k) => b[k] - a[k];
  return {
    task: d('TaskDuration'),
    script: d('ScriptDuration'),
    layout: d('LayoutDuration') + d('RecalcStyleDuration'),
    frames: d('ticks'),
  };
}

const srv = await startServers({ configs: { k_bench: {} } });
const browser = await launch();
try {
  const base = `${srv.siteOrigin}/fixtures/mutations.html`;
  const add = (a, b) => (a ? Object.fromEntries(Object.keys(b).map((k) => [k, a[k] + b[k]])) : b);
  let without, withRec;
  const sent = [];
  for (let round = 0; round < 2; round++) {
    without = add(without, await measure(browser, `${base}?norec=1`));
    const before = srv.requests.length;
    withRec = add(withRec, await measure(browser, `${base}?k=k_bench`));
    sent.push(...srv.requests.slice(before).filter((r) => r.envelope));
  }
  if (!sent.length) throw new Error('the recorder sent nothing: the "with" run did not record');
  const bytes = sent.reduce((n, r) => n + r.raw.length, 0);
  const events = sent.reduce((n, r) => n + r.envelope.events.length, 0);
  const row = (name, r) =>
    `${name.padEnd(18)} main-thread ${r.task.toFixed(3).padStart(7)} s (${((100 * r.task) / SECONDS).toFixed(1).padStart(5)}% of ${SECONDS} s)` +
    `  script ${r.script.toFixed(3).padStart(7)} s  style+layout ${r.layout.toFixed(3).padStart(6)} s  frames ${String(r.frames).padStart(5)}` +
    `  per frame ${((1000 * r.task) / Math.max(1, r.frames)).toFixed(3)} ms`;
  console.log(`tracker main-thread benchmark: e2e/fixtures/mutations.html, ${SECONDS} s each, Chromium ${browser.version()}`);
  console.log(row('without recorder', without));
  console.log(row('with recorder', withRec));
  console.log(`recorder sent ${sent.length} batches, ${events} events, ${(bytes / 1024).toFixed(1)} KiB on the wire`);
  const perFrame = (r) => r.task / Math.max(1, r.frames);
  console.log(`ratio main-thread time per frame with/without: ${(perFrame(withRec) / perFrame(without)).toFixed(2)}x` +
    ` (recorder adds ${(1000 * (perFrame(withRec) - perFrame(without))).toFixed(3)} ms per frame);` +
    ` total main-thread time with/without: ${(withRec.task / without.task).toFixed(2)}x`);
} finally {
  await browser.close();
  await srv.close();
}
