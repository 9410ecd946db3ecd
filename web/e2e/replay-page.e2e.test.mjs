// The replay page in real Chromium against the real binary: a visit whose
// visitor id holds underscores is recorded and replayed; the Session tab shows
// the id whole with every underscore drawn (pixels, not only text), and the
// replay page logs no console error or warning (the replay iframe's sandbox
// among them).
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/replay-page.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import { DESKTOP_UA, browserWithSite, leave, serveHtml, startSightline, waitFor } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const results = path.resolve(here, "../test-results");
const bin = process.env.SIGHTLINE_BIN;
const VISITOR = "v_under_score_visitor_42";

let sl, fixture, siteKey = "";

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build)");
  mkdirSync(results, { recursive: true });
  sl = await startSightline(bin);
  fixture = await serveHtml(
    () => `<!doctype html><html><head><title>Shop</title><script async src="${sl.base}/s/${siteKey}.js"></script>
<style>body{font-family:sans-serif;margin:40px}</style></head><body><h1>Replay page fixture</h1>
<button id="buy" onclick="document.getElementById('out').textContent='Added'">Buy</button><p id="out"></p>
<a href="javascript:void(0)" onmouseover="void 0">menu</a><img src="/none.png" onerror="this.alt='x'" alt="">
<script>document.getElementById('out').dataset.ready = '1';</script>
<iframe srcdoc="<p>Inner frame</p><script>document.body.dataset.inner = '1'</script>" width="300" height="80"></iframe>
<form action="/buy" onsubmit="return false"><input name="q" value=""><button>Go</button></form></body></html>`,
  );
});

after(async () => {
  fixture?.server.close();
  await sl?.stop();
});

test("the replay page: the visitor id's underscores are drawn, and no console error", { timeout: 180_000 }, async (t) => {
  const { browser, ctx, orgId, call, siteId, siteKey: key, page } = await browserWithSite(sl.base, `replay-${Date.now()}@example.com`);
  t.after(() => browser.close());
  siteKey = key;

  // A visit whose stored visitor id (the tracker keeps it in localStorage) has underscores.
  const vctx = await browser.newContext({ userAgent: DESKTOP_UA, viewport: { width: 1280, height: 720 } });
  await vctx.addInitScript(([k, v]) => localStorage.setItem(`_sl_${k}_v`, v), [siteKey, VISITOR]);
  const visitor = await vctx.newPage();
  await visitor.goto(fixture.origin + "/");
  await waitFor(() => visitor.evaluate(() => typeof window.sightline === "function"), "the tracker to load", 15_000);
  await visitor.waitForTimeout(800);
  await visitor.click("#buy");
  await visitor.waitForTimeout(1500);
  await leave(visitor);
  await vctx.close();
  const session = await waitFor(async () => {
    const r = await call("POST", `/api/v1/sites/${siteId}/sessions:search`, {});
    return r.json().sessions?.[0];
  }, "the recording to be listed", 60_000);
  assert.equal(session.visitorId, VISITOR);

  // Every console message of the replay page, its frames included.
  const messages = [];
  page.on("console", (m) => messages.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => messages.push(`pageerror: ${e.message}`));
  await page.goto(`${sl.base}/o/${orgId}/sites/${siteId}/recordings/${encodeURIComponent(session.sessionId)}`);
  await page.locator("[data-testid=replay-player][data-status=done]").waitFor({ timeout: 30_000 });
  const frame = page.frameLocator("[data-testid=replay-frame] iframe");
  await waitFor(async () => (await frame.locator("body").innerText()).includes("Replay page fixture"), "the replay to render the fixture", 15_000);
  // The recorded <iframe srcdoc> is rebuilt from its own snapshot, its srcdoc (and script) left out.
  await waitFor(async () => (await frame.frameLocator("iframe").locator("body").innerText()).includes("Inner frame"), "the replay to rebuild the inner frame", 15_000);
  await page.getByTestId("play-pause").click();
  await page.waitForTimeout(2500);

  await page.getByTestId("tab-session").click();
  const id = page.getByTestId("session-meta").locator("code");
  assert.equal(await id.innerText(), VISITOR);
  await page.screenshot({ path: path.join(results, "replay-session-tab.png") });
  // The same box with the underscores turned into spaces: if the underscores
  // draw nothing where they stand (clipped, hidden, painted over), the two
  // pictures are the same. Each underscore must change pixels of its own.
  const box = await id.boundingBox();
  const shot = PNG.sync.read(await page.screenshot({ clip: box }));
  const unders = await id.evaluate((el) => {
    const text = el.firstChild;
    const out = [];
    for (let i = text.data.indexOf("_"); i >= 0; i = text.data.indexOf("_", i + 1)) {
      const r = document.createRange();
      r.setStart(text, i);
      r.setEnd(text, i + 1);
      out.push(r.getBoundingClientRect().left - el.getBoundingClientRect().left);
    }
    text.data = text.data.replaceAll("_", "\u00a0");
    return out;
  });
  const blank = PNG.sync.read(await page.screenshot({ clip: box }));
  await id.evaluate((el, v) => (el.textContent = v), VISITOR);
  assert.equal(unders.length, VISITOR.split("_").length - 1);
  const changed = (x0) => {
    let n = 0;
    for (let y = 0; y < shot.height; y++)
      for (let x = Math.floor(x0); x < Math.min(shot.width, Math.ceil(x0) + 8); x++) {
        const i = (y * shot.width + x) * 4;
        if (Math.abs(shot.data[i] - blank.data[i]) + Math.abs(shot.data[i + 1] - blank.data[i + 1]) + Math.abs(shot.data[i + 2] - blank.data[i + 2]) > 60) n++;
      }
    return n;
  };
  const inked = unders.map(changed);
  assert.ok(inked.every((n) => n >= 3), `pixels each underscore draws: ${inked.join(", ")}`);
  t.diagnostic(`visitor id box ${box.width.toFixed(1)} × ${box.height.toFixed(1)} px; pixels per underscore: ${inked.join(", ")}`);

  const bad = messages.filter((m) => /^(error|warning|pageerror):/.test(m));
  assert.deepEqual(bad, [], `console of the replay page:\n${messages.join("\n")}`);
});
