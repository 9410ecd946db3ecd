// Records real interactions with frustration.html in Chromium through the real tracker (tracker/dist)
// and writes the batches it sent, decoded, to frustration.json: the input of TestRecordedFrustrations
// (Go) and of web/src/lib/timeline.test.ts. Re-record (after `npm --prefix tracker run build`):
//   node svc-recordings/summary/testdata/record.mjs
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServers, snippet } from '../../../tracker/e2e/server.mjs';
import { launch } from '../../../tracker/e2e/browser.mjs';

const here = import.meta.dirname;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const srv = await startServers({ configs: { k_frustration: {} } });
const site = http.createServer((req, res) => {
  const name = new URL(req.url, 'http://x').pathname.slice(1);
  if (!['frustration.html', 'page2.html'].includes(name)) {
    res.writeHead(404);
    return res.end();
  }
  const html = readFileSync(join(here, name), 'utf8').replace('__SNIPPET__', snippet(srv.ingestOrigin, 'k_frustration'));
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
});
await new Promise((r) => site.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${site.address().port}`;

const posts = () => srv.requests.filter((r) => r.method === 'POST' && r.envelope);
async function waitFor(fn, what, ms = 15000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (fn()) return;
  throw new Error('timed out waiting for ' + what + ' (' + posts().length + ' batches, at ' + posts().map((r) => r.at % 100000).join(',') + ', now ' + (Date.now() % 100000) + ')');
}

const browser = await launch();
try {
  const page = await (await browser.newContext({ viewport: { width: 1000, height: 700 } })).newPage();
  await page.goto(origin + '/frustration.html');
  await waitFor(() => posts().length > 0, 'the first batch');
  // beforeFlush waits until lead ms before the tracker's next flush (every 5 s after the last), so
  // that a click then is answered in the next batch. The tracker flushes only what is pending: the
  // pointer moves so there is something.
  const beforeFlush = async (lead) => {
    const n = posts().length;
    await page.mouse.move(5, 5);
    await waitFor(() => posts().length > n, 'a flush', 8000);
    const flushedAt = Date.now();
    await sleep(Math.max(0, flushedAt + 5000 - lead - Date.now()));
  };
  const step = async (sel, pause = 2000) => {
    await page.click(sel);
    await sleep(pause);
  };
  await step('#name', 600); // into a text field: never dead
  await page.keyboard.type('Ada');
  await sleep(600);
  await step('#notes', 800); // textarea
  await step('#change', 800); // changes the text
  await step('#change', 2000); // again: the text changes again
  await step('#agree', 800); // checkbox
  await step('#pick', 300); // select (its native popup)
  await page.keyboard.press('Escape');
  await sleep(800);
  await step('#name-label', 800); // a label pointing at a field
  await step('#plain'); // plain text: dead
  await step('#noop'); // a handler that does nothing: dead
  await step('#noop2', 400); // does nothing, and the visitor goes on at once...
  await step('#away'); // ...to a button that answers: #noop2 is dead all the same
  await step('#twice', 300); // answered 1.2 s after the first click, pressed again meanwhile
  await step('#twice'); // on the same spot: neither is dead
  await step('#scroll', 1200); // only scrolls
  await page.mouse.wheel(0, -2000); // back up (a scroll, not a click)
  await sleep(1500);
  const box = await page.locator('#rage').boundingBox();
  for (let i = 0; i < 4; i++) {
    // Rage: four clicks within a second on a dead button, a few px apart.
    await page.mouse.click(box.x + 20 + i * 3, box.y + box.height / 2);
    await sleep(150);
  }
  await sleep(2500);
  await beforeFlush(600);
  await step('#slow', 2500); // answered after 1.2 s, in the next batch: not dead
  await step('#tooslow', 4000); // answered after 2.5 s: dead
  await step('#editor-p', 1000); // inside a contenteditable
  await page.evaluate(() => {
    window.laterDelay = 900; // the answer's delay, read by the handler
  });
  await beforeFlush(400);
  await step('#later', 2500); // answered in the next batch
  await step('#link', 0); // navigates: a new page view
  await page.waitForURL('**/page2.html');
  await sleep(2500);
  await step('#plain2', 2500); // dead, on the second page
  await page.close({ runBeforeUnload: true }); // pagehide sends the rest
  await sleep(1500);
} finally {
  await browser.close();
  await new Promise((r) => site.close(r));
  await srv.close();
}
const batches = posts().map((r) => r.envelope);
writeFileSync(join(here, 'frustration.json'), JSON.stringify(batches) + '\n');
console.log(`wrote ${batches.length} batches, ${batches.reduce((n, b) => n + b.events.length, 0)} events`);
