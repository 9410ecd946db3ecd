// make bench-tracker: main-thread time of a mutation-heavy page (e2e/fixtures/mutations.html) in
// Debian's Chromium in three configurations measured in the same run: no recorder, plain
// @rrweb/record with its default options (events kept in an array: rrweb's own cost), and the
// Sightline recorder (rrweb plus masking, batching, serialising, gzip and sending). Time comes from
// the DevTools protocol's Performance.getMetrics (TaskDuration = all main-thread tasks,
// ScriptDuration = JavaScript). The page does a fixed amount of DOM work per animation frame and a
// loaded machine drops frames, so the headline is main-thread time per frame. The machine is
// shared and noisy: BENCH_ROUNDS rounds (default 5) of BENCH_SECONDS/BENCH_ROUNDS each per
// configuration, the order rotated every round, and medians reported — of each configuration's
// time per frame and of the per-round ratios (paired within a round, so drift cancels).
// BENCH_CANVAS=1 measures canvas recording instead, on e2e/fixtures/chart.html (a Chart.js chart
// redrawn twice a second): no recorder, the recorder with recordCanvas false, and with it true.
// It starts with the feedback bundle's size budget and the cost of pages where nothing of it is
// active (bench/feedback.mjs, also runnable alone).
// BENCH_PROFILE=1 also writes a CPU profile of the Sightline run to bench/sightline.cpuprofile
// and prints the functions with the most self time.
import { writeFileSync } from 'node:fs';
import { startServers } from '../e2e/server.mjs';
import { launch } from '../e2e/browser.mjs';
import { benchFeedback } from './feedback.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS || 30);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const PROFILE = !!process.env.BENCH_PROFILE;
const WARMUP_MS = 3000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function measure(browser, url, profile) {
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
  if (profile) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
  }
  const a = await metrics();
  await sleep((SECONDS * 1000) / ROUNDS);
  const b = await metrics();
  const prof = profile ? (await cdp.send('Profiler.stop')).profile : null;
  await ctx.close();
  const d = (k) => b[k] - a[k];
  return {
    task: d('TaskDuration'),
    script: d('ScriptDuration'),
    layout: d('LayoutDuration') + d('RecalcStyleDuration'),
    frames: d('ticks'),
    prof,
  };
}

// selfTimes sums a CPU profile's self time per function (name and script).
function selfTimes(prof) {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = prof.timeDeltas;
  prof.samples.forEach((id, i) => {
    const n = byId.get(id);
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
    self.set(key, (self.get(key) || 0) + (dt[i] || 0));
  });
  return [...self.entries()].sort((a, b) => b[1] - a[1]);
}

const CANVAS = !!process.env.BENCH_CANVAS;
// The feedback bundle first (a few seconds): its budget and what pages without it pay.
await benchFeedback();
const srv = await startServers({ configs: { k_bench: {}, k_canvas: { recordCanvas: true } } });
const browser = await launch();
try {
  const page = CANVAS ? 'chart.html' : 'mutations.html';
  const base = `${srv.siteOrigin}/fixtures/${page}`;
  const configs = CANVAS
    ? [
        { name: 'no recorder', url: `${base}?norec=1` },
        { name: 'canvas off', url: `${base}?k=k_bench` },
        { name: 'sightline', url: `${base}?k=k_canvas` },
      ]
    : [
        { name: 'no recorder', url: `${base}?norec=1` },
        { name: 'plain rrweb', url: `${base}?rrweb=1` },
        { name: 'sightline', url: `${base}?k=k_bench` },
      ];
  const runs = Object.fromEntries(configs.map((c) => [c.name, []]));
  const sent = [];
  let prof = null;
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < configs.length; i++) {
      const c = configs[(i + round) % configs.length];
      const before = srv.requests.length;
      const r = await measure(browser, c.url, PROFILE && c.name === 'sightline' && !prof);
      if (r.prof) prof = r.prof;
      runs[c.name].push(r);
      if (c.name === 'sightline') sent.push(...srv.requests.slice(before).filter((x) => x.envelope));
    }
  }
  if (!sent.length) throw new Error('the recorder sent nothing: the Sightline runs did not record');
  const perFrame = (r) => (1000 * r.task) / Math.max(1, r.frames);
  const sum = (rs) => rs.reduce((a, r) => ({ task: a.task + r.task, script: a.script + r.script, layout: a.layout + r.layout, frames: a.frames + r.frames }), { task: 0, script: 0, layout: 0, frames: 0 });
  console.log(`tracker main-thread benchmark: e2e/fixtures/${page}${CANVAS ? ' (sightline = recordCanvas true)' : ''}, ${ROUNDS} rounds × ${(SECONDS / ROUNDS).toFixed(1)} s per configuration, order rotated, Chromium ${browser.version()}`);
  for (const c of configs) {
    const t = sum(runs[c.name]);
    console.log(
      `${c.name.padEnd(12)} main-thread ${t.task.toFixed(3).padStart(7)} s  script ${t.script.toFixed(3).padStart(7)} s  style+layout ${t.layout.toFixed(3).padStart(6)} s` +
        `  frames ${String(t.frames).padStart(5)}  per frame: median ${median(runs[c.name].map(perFrame)).toFixed(3)} ms` +
        ` (rounds: ${runs[c.name].map((r) => perFrame(r).toFixed(3)).join(' ')})`,
    );
  }
  const bytes = sent.reduce((n, r) => n + r.raw.length, 0);
  const events = sent.reduce((n, r) => n + r.envelope.events.length, 0);
  console.log(`sightline sent ${sent.length} batches, ${events} events, ${(bytes / 1024).toFixed(1)} KiB on the wire`);
  const ratio = (a, b) => median(runs[a].map((r, i) => perFrame(r) / perFrame(runs[b][i])));
  if (CANVAS) {
    const frames = sent.flatMap((r) => r.envelope.events).filter((e) => e.type === 3 && e.data.source === 9);
    const cb = frames.reduce((n, e) => n + JSON.stringify(e).length, 0);
    const secs = ROUNDS * (SECONDS / ROUNDS + WARMUP_MS / 1000);
    console.log(`canvas: ${frames.length} frames, ${(cb / 1024).toFixed(1)} KiB of canvas events in about ${secs.toFixed(0)} s recorded = ${(cb / 1024 / 1024 / (secs / 60)).toFixed(2)} MiB a minute before compression`);
    console.log(`main-thread time, median of per-round ratios: canvas off / none ${ratio('canvas off', 'no recorder').toFixed(3)}x, canvas on / canvas off ${ratio('sightline', 'canvas off').toFixed(3)}x`);
    for (const c of configs) console.log(`  ${c.name.padEnd(12)} ${(median(runs[c.name].map((r) => r.task / (SECONDS / ROUNDS))) * 100).toFixed(1)}% of one core (median)`);
  } else console.log(
    `per frame, median of per-round ratios: plain rrweb / none ${ratio('plain rrweb', 'no recorder').toFixed(3)}x, ` +
      `sightline / none ${ratio('sightline', 'no recorder').toFixed(3)}x, sightline / plain rrweb ${ratio('sightline', 'plain rrweb').toFixed(3)}x (budget ≤ 1.05x)`,
  );
  if (prof) {
    writeFileSync(new URL('./sightline.cpuprofile', import.meta.url), JSON.stringify(prof));
    const total = prof.timeDeltas.reduce((a, b) => a + b, 0);
    console.log('sightline CPU profile (bench/sightline.cpuprofile), top self time:');
    for (const [k, us] of selfTimes(prof).slice(0, 25)) console.log(`  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`);
  }
} finally {
  await browser.close();
  await srv.close();
}
