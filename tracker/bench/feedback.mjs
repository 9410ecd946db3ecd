// The feedback bundle's part of make bench-tracker: its gzipped size against the 12 KB budget (and
// the bootstrap's against 1.5 KB), and what a page pays in Chromium when the site has a widget and
// a survey for other pages only (no request for the bundle, no extra bytes beyond the settings
// inlined in the bootstrap), next to a site with nothing configured and a page where the widget
// is active. Requests and bytes are counted from the browser's side (CDP Network events).
import { gzipSync } from 'node:zlib';
import { bundle } from '../build.mjs';
import { startFeedbackServers } from '../e2e/feedback-server.mjs';
import { launch } from '../e2e/browser.mjs';

const FEEDBACK_BUDGET = 12 * 1024;
const BOOTSTRAP_BUDGET = 1536;

const widget = (pages) => ({ position: 'right', color: '#3b5bdb', language: '', texts: { tab: '', title: '', prompt: '', thanks: '' }, element: true, pages });
const survey = { id: '1', questions: [{ id: 1, type: 'nps', text: 'Recommend us?', required: true, choices: [], skip: [] }], target: { pages: [{ op: 'equals', value: '/checkout' }] }, trigger: { kind: 'load' }, sample: 1, once: true, start: null, end: null };

async function load(browser, url) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  const urls = new Map();
  let bytes = 0;
  const seen = [];
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.loadingFinished', (e) => {
    if (/\/favicon\.ico$/.test(urls.get(e.requestId) || '')) return; // the browser's own, when it gets round to it
    bytes += e.encodedDataLength;
    seen.push({ url: urls.get(e.requestId), bytes: e.encodedDataLength });
  });
  await page.goto(url);
  await page.waitForLoadState('networkidle');
  await page.waitForTimeout(300);
  await ctx.close();
  return { requests: seen.length, bytes, seen };
}

export async function benchFeedback() {
  const out = await bundle();
  const gz = (s) => gzipSync(Buffer.from(s), { level: 9 }).length;
  const f = gz(out.feedback);
  const b = gz(out.bootstrap);
  console.log(`feedback bundle: dist/feedback.js ${out.feedback.length} B, ${f} B gzipped (budget ${FEEDBACK_BUDGET} B, ${((100 * f) / FEEDBACK_BUDGET).toFixed(1)}%); bootstrap ${b} B gzipped (budget ${BOOTSTRAP_BUDGET} B)`);
  if (f > FEEDBACK_BUDGET || b > BOOTSTRAP_BUDGET) throw new Error('over budget');

  // sampleRate 0: the recorder stays out of all three, so only the feedback part differs.
  const srv = await startFeedbackServers({
    configs: {
      k_nothing: { sampleRate: 0 },
      k_elsewhere: { sampleRate: 0, feedback: widget([{ op: 'prefix', value: '/elsewhere' }]), surveys: [survey] },
      k_active: { sampleRate: 0, feedback: widget([]) },
    },
  });
  const browser = await launch();
  try {
    const page = (k) => `${srv.siteOrigin}/fixtures/feedback/plain.html?k=${k}&stub=0`;
    const rows = {};
    for (const k of ['k_nothing', 'k_elsewhere', 'k_active']) rows[k] = await load(browser, page(k));
    const boot = (r) => r.seen.find((x) => x.url.includes('/s/')).bytes;
    const fb = (r) => r.seen.filter((x) => x.url.includes('/static/feedback')).length;
    console.log(`page cost in Chromium ${browser.version()} (e2e/fixtures/feedback/plain.html; requests and bytes on the wire from an uncompressed test server, favicon left out):`);
    console.log(`  nothing configured          ${rows.k_nothing.requests} requests, ${rows.k_nothing.bytes} B (bootstrap ${boot(rows.k_nothing)} B)`);
    console.log(`  widget+survey elsewhere     ${rows.k_elsewhere.requests} requests, ${rows.k_elsewhere.bytes} B (bootstrap ${boot(rows.k_elsewhere)} B: +${boot(rows.k_elsewhere) - boot(rows.k_nothing)} B of inlined settings), feedback.js requests: ${fb(rows.k_elsewhere)}`);
    console.log(`  widget active on the page   ${rows.k_active.requests} requests, ${rows.k_active.bytes} B, feedback.js requests: ${fb(rows.k_active)}`);
    if (fb(rows.k_elsewhere) !== 0 || rows.k_elsewhere.requests !== rows.k_nothing.requests) throw new Error('a page without anything active made extra requests');
    if (fb(rows.k_active) !== 1) throw new Error('the active page did not load the bundle once');
  } finally {
    await browser.close();
    await srv.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchFeedback();
