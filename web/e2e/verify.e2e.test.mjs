// "Verify installation" in real Chromium against the real binary: it
// succeeds on the first counted page view of a site that records nothing
// (recording off: the tracker sends page-view hits only) and says so, and on
// the first stored batch of a site that records, whose time it reports.
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/verify.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { DESKTOP_UA, createSite, launchChromium, leave, serveHtml, signUp, startSightline, waitFor } from "./harness.mjs";

const bin = process.env.SIGHTLINE_BIN;
let sl, browser, fixture, keys = {};

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build)");
  sl = await startSightline(bin);
  // One page, served on two hosts: localhost for the recorded site,
  // 127.0.0.1 for the one with recording off (each host is one site's domain).
  fixture = await serveHtml(() => "<!doctype html><title>Shop</title><body><h1>Teapots</h1>");
  fixture.server.removeAllListeners("request");
  fixture.server.on("request", (req, res) => {
    const key = keys[(req.headers.host ?? "").split(":")[0]] ?? "";
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html><head><title>Shop</title><script async src="${sl.base}/s/${key}.js"></script></head><body><h1>Teapots</h1><button id="buy">Buy</button></body></html>`);
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  fixture?.server.close();
  await sl?.stop();
});


/** visit opens url in a visitor's own context, clicks, and closes the page (page hide flushes the recorder). */
async function visit(url) {
  const ctx = await browser.newContext({ userAgent: DESKTOP_UA });
  try {
    const page = await ctx.newPage();
    await page.goto(url);
    await waitFor(() => page.evaluate(() => typeof window.sightline === "function"), "the tracker to load", 15_000);
    await page.click("#buy");
    await page.waitForTimeout(500);
    await leave(page);
  } finally {
    await ctx.close();
  }
}

/** openSetup opens the site's setup page, clicks "Verify installation" and answers the page and the click's time. */
async function openSetup(ctx, orgId, siteId) {
  const page = await ctx.newPage();
  await page.goto(`${sl.base}/o/${orgId}/sites/${siteId}/setup`);
  await page.getByTestId("verify-install").click();
  await page.locator("[data-testid=verify-status][data-state=waiting]").waitFor({ timeout: 10_000 });
  return { page, clicked: Date.now() };
}

test("verify succeeds on page views of a site with recording off, and on the first batch of a recorded one", { timeout: 180_000 }, async (t) => {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  t.after(() => ctx.close());
  const { orgId, call } = await signUp(ctx, sl.base, `verify-${Date.now()}@example.com`);

  // Recording off: only page-view hits arrive, never a batch.
  const off = await createSite(call, orgId, { name: "Counted only", domains: ["127.0.0.1"] });
  keys["127.0.0.1"] = off.siteKey;
  const set = await call("PATCH", `/api/v1/sites/${off.siteId}/settings`, { settings: { recordingEnabled: false }, updateMask: "recordingEnabled" });
  assert.equal(set.status, 200, set.text);
  const a = await openSetup(ctx, orgId, off.siteId);
  await visit(`http://127.0.0.1:${fixture.port}/`);
  await a.page
    .locator("[data-testid=verify-status][data-state=ok][data-seen=hits]")
    .waitFor({ timeout: 30_000 })
    .catch(async (e) => {
      const rt = await call("GET", `/api/v1/sites/${off.siteId}/traffic/realtime`);
      throw new Error(`${e.message}\nshown: ${await a.page.getByTestId("verify-status").innerText()}\nrealtime: ${rt.status} ${rt.text}`);
    });
  const offMs = Date.now() - a.clicked;
  const offText = await a.page.getByTestId("verify-status").innerText();
  assert.match(offText, /Page views arrive — 1 page view in the last 5 minutes\. Recording is off for this site/);
  assert.equal(await a.page.getByTestId("verify-install").isEnabled(), true, "verifying stopped: a site that records nothing is verified by its page views");
  const activity = await call("GET", `/api/v1/sites/${off.siteId}/activity`);
  assert.equal(activity.json().lastChunkTime, undefined, "nothing was recorded on the site with recording off");
  t.diagnostic(`recording off: verified by page views ${offMs} ms after the click (the visit took part of it)`);

  // A recorded site: verify waits for the first stored batch and says so.
  const rec = await createSite(call, orgId, { name: "Recorded", domains: ["localhost"] });
  keys.localhost = rec.siteKey;
  const b = await openSetup(ctx, orgId, rec.siteId);
  const visited = Date.now();
  await visit(`${fixture.origin}/`);
  await b.page.locator("[data-testid=verify-status][data-state=ok][data-seen=recording]").waitFor({ timeout: 60_000 });
  const recMs = Date.now() - visited;
  assert.match(await b.page.getByTestId("verify-status").innerText(), /Recording arrived — last batch .*, 1 session in the last 24 hours\./);
  t.diagnostic(`recording on: verified by the first batch ${recMs} ms after the visit began`);
  assert.ok(recMs < 30_000, `the first batch verified the site ${recMs} ms after the visit`);
});
