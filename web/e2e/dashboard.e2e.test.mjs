// End-to-end test of the dashboard against the real binary, in Debian's
// Chromium: sign up -> create a site -> the snippet on a fixture page -> a
// scripted visit with clicks and a rage click -> the recording in the list
// (device and rage-click filters find it, a non-matching filter hides it) ->
// the replay renders the fixture's text and the timeline shows the rage click.
//
//   SIGHTLINE_BIN=/path/to/sightline npm run e2e
//
// Screenshots of the list and the replay go to web/test-results/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DESKTOP_UA, launchChromium, serveHtml, signUpWithForms, startSightline, waitFor } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const results = path.resolve(here, "../test-results");
const bin = process.env.SIGHTLINE_BIN;
const FIXTURE_TEXT = "Sightline fixture teapot shop";

let sl, fixture, browser, base, fixtureUrl, siteKey = "";

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build) to run the dashboard end-to-end test");
  mkdirSync(results, { recursive: true });
  sl = await startSightline(bin);
  // "localhost" rather than 127.0.0.1: the site's allowed domain is a host name.
  base = sl.base;
  const fx = await serveHtml(
    () => `<!doctype html><html><head><title>Fixture</title>
<script async src="${base}/s/${siteKey}.js"></script>
<style>body{font-family:sans-serif;margin:40px} button{font-size:18px;padding:10px 18px}</style></head>
<body><h1>${FIXTURE_TEXT}</h1><p>Hand made, 1.2 litres.</p>
<button id="buy" onclick="document.getElementById('out').textContent='Added to cart'">Add to cart</button>
<button id="broken">Broken button</button><p id="out"></p></body></html>`,
  );
  fixture = fx.server;
  fixtureUrl = `${fx.origin}/`;

  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  fixture?.close();
  await sl?.stop();
});

test("sign up, install, record a visit, find it, replay it", { timeout: 180_000 }, async (t) => {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  t.after(() => ctx.close());

  // Sign up; a new user lands on "add your site", then on the install snippet.
  await signUpWithForms(page, base, `ana-${Date.now()}@example.com`, "localhost");
  const snippet = await page.getByTestId("install-snippet").innerText();
  const m = /<script async src="([^"]+)\/s\/([^"/]+)\.js"><\/script>/.exec(snippet);
  assert.ok(m, `snippet looks wrong: ${snippet}`);
  assert.equal(m[1], base);
  siteKey = decodeURIComponent(m[2]);

  // A visit with a click that works and a rage click on a broken button.
  const visitorCtx = await browser.newContext({ viewport: { width: 1280, height: 720 }, userAgent: DESKTOP_UA });
  const visitor = await visitorCtx.newPage();
  await visitor.goto(fixtureUrl);
  await waitFor(() => visitor.evaluate(() => typeof window.sightline === "function"), "the tracker to load", 15_000);
  await visitor.waitForTimeout(1000);
  await visitor.click("#buy");
  await visitor.waitForTimeout(600);
  const box = await visitor.locator("#broken").boundingBox();
  for (let i = 0; i < 4; i++) {
    await visitor.mouse.click(box.x + 12, box.y + 10);
    await visitor.waitForTimeout(120);
  }
  await visitor.waitForTimeout(2500);
  await visitor.close(); // page hide flushes the last batch
  await visitorCtx.close();

  // "Verify installation" sees the data, says so in words ("1 session"), and stops asking.
  const activityAsks = [];
  page.on("request", (r) => r.url().endsWith("/activity") && activityAsks.push(Date.now()));
  await page.getByTestId("verify-install").click();
  await page.locator('[data-testid=verify-status][data-state=ok][data-seen=recording]').waitFor({ timeout: 60_000 });
  assert.match(await page.getByTestId("verify-status").innerText(), /\b1 session in the last 24 hours/);
  const okAt = Date.now();
  await page.waitForTimeout(7_000); // more than two of its 3 s polls
  assert.deepEqual(activityAsks.filter((t) => t > okAt + 500), [], "the activity is not polled once data arrived");

  // The recording appears in the list.
  const listUrl = page.url().replace(/\/setup.*$/, "/recordings");
  await waitFor(async () => {
    await page.goto(listUrl);
    await page.locator("[data-testid=recording-row], [data-testid=recordings-empty]").first().waitFor();
    return (await page.getByTestId("recording-row").count()) === 1;
  }, "the recording to be listed", 90_000);
  const row = page.getByTestId("recording-row");
  await assert.doesNotReject(row.getByTestId("badge-rage").waitFor({ timeout: 5000 }), "the row shows a rage-click badge");
  await page.screenshot({ path: path.join(results, "dashboard-list.png"), fullPage: true });

  // Filters: device + "has rage clicks" find it; a non-matching device hides it.
  await page.getByTestId("filter-rage").selectOption("1");
  await page.locator("[data-testid=filter-device] input[value=DEVICE_TYPE_DESKTOP]").check();
  await waitFor(async () => new URL(page.url()).searchParams.getAll("device").includes("desktop") && (await page.getByTestId("recording-row").count()) === 1, "the desktop + rage filter to keep the row");
  await page.locator("[data-testid=filter-device] input[value=DEVICE_TYPE_DESKTOP]").uncheck();
  await page.locator("[data-testid=filter-device] input[value=DEVICE_TYPE_MOBILE]").check();
  await page.getByTestId("recordings-empty").waitFor();
  assert.equal(await page.getByTestId("recording-row").count(), 0, "a mobile filter hides the desktop visit");
  // The filters live in the URL: the back button restores the list before "mobile".
  await page.goBack();
  await page.getByTestId("recording-row").first().waitFor();
  assert.ok(!new URL(page.url()).searchParams.getAll("device").includes("mobile"), `after back: ${page.url()}`);
  assert.equal(await page.locator("[data-testid=filter-device] input[value=DEVICE_TYPE_MOBILE]").isChecked(), false);
  assert.equal(await page.getByTestId("filter-rage").inputValue(), "1", "after back: the rage filter is kept");

  // Replay: the player renders the fixture's text, the timeline shows the rage click.
  await page.getByTestId("recording-row").first().click();
  await page.locator('[data-testid=replay-player][data-status=done]').waitFor({ timeout: 30_000 });
  const frame = page.frameLocator("[data-testid=replay-frame] iframe");
  await waitFor(async () => (await frame.locator("body").innerText()).includes(FIXTURE_TEXT), "the replay to render the fixture page", 15_000);
  const kinds = await page.getByTestId("timeline-marker").evaluateAll((els) => els.map((e) => e.dataset.kind));
  assert.ok(kinds.includes("rage"), `timeline markers: ${kinds.join(",")}`);
  assert.ok(kinds.includes("page"), `timeline markers: ${kinds.join(",")}`);
  // Seeking from the side list moves the clock to the rage click.
  await page.locator("[data-testid=event-list-item][data-kind=rage]").click();
  if ((await page.getByTestId("play-pause").getAttribute("aria-label")) === "Play") await page.getByTestId("play-pause").click();
  await page.waitForTimeout(1500);
  const [clock] = (await page.getByTestId("player-clock").innerText()).split(" / ");
  assert.notEqual(clock, "0:00", "the player plays on from the rage click");
  await page.screenshot({ path: path.join(results, "dashboard-replay.png") });
  assert.deepEqual(pageErrors, [], "no uncaught errors in the dashboard");
});
