// Trends and funnels end to end, against the real binary in Debian's
// Chromium: four visitors of a fixture shop (real tracker bundle, page-view
// beacons through ingest's POST /i/v1/hit into the traffic store) arrive
// from three referrers and directly, two with UTM campaigns, on desktop and
// mobile. The Overview shows their counts in the tiles and breakdown rows
// (and links a row to the recordings list with its filter), Realtime shows
// them as current visitors, and a four-step funnel over the fixture pages
// shows the expected conversion; clicking a drop-off lists the recording of
// the session that dropped off there. Screenshots go to
// test-results/traffic (or SCREENSHOT_DIR).
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/traffic.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DESKTOP_UA, axeViolations, browserWithSite, leave, serveFixture, startSightline, waitFor } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const shots = path.resolve(process.env.SCREENSHOT_DIR ?? path.join(here, "../test-results/traffic"));
const bin = process.env.SIGHTLINE_BIN;
const MOBILE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

let sl, fixture, browser, ctx, page, call, orgId, siteId, siteKey = "", fixtureOrigin;

const PAGES = { "/": ["Teapots", "/pricing"], "/pricing": ["Pricing", "/signup"], "/signup": ["Sign up", "/thanks"], "/thanks": ["Thanks", "/"] };

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build) to run the traffic end-to-end test");
  mkdirSync(shots, { recursive: true });
  console.log(`traffic screenshots: ${shots}`);
  sl = await startSightline(bin, ["-ingest.site-cache-ttl", "1s"]);
  ({ origin: fixtureOrigin, server: fixture } = await serveFixture((req, res, origin) => {
    const p = new URL(req.url ?? "/", origin).pathname;
    const entry = PAGES[p];
    if (!entry) {
      res.writeHead(404).end();
      return;
    }
    const [title, next] = entry;
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Teapot shop</title><script async src="${sl.base}/s/${siteKey}.js"></script>
<style>body { margin: 0; font: 16px Georgia, serif; background: #fdf6e3; color: #222; } main { padding: 32px; }</style></head><body>
<main><h1>${title}</h1><p>Glass teapots since 1907.</p><a id="next" href="${next}">Next</a></main></body></html>`);
  }));
  ({ browser, ctx, orgId, call, siteId, siteKey, page } = await browserWithSite(sl.base, "traffic@example.com"));
});

after(async () => {
  await browser?.close();
  fixture?.close();
  await sl?.stop();
});

/** axe answers the serious and critical axe violations of url in light and dark. */
const axe = (url, ready) => axeViolations(browser, ctx, url, ready);

/** screenshots takes the whole page in light and in dark (name.png, name-dark.png), leaving it light. */
async function screenshots(name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.screenshot({ path: path.join(shots, `${name}-dark.png`), fullPage: true });
  await page.emulateMedia({ colorScheme: "light" });
}

const sitePage = (p) => `${sl.base}/o/${orgId}/sites/${siteId}/${p}`;

/**
 * visit opens the fixture's home from a referrer (or directly) with a query
 * string, then follows the "Next" link through `steps` more pages, and
 * closes the page so the last page view's end is sent.
 */
async function visit({ mobile = false, referrer, query = "", steps }) {
  const vctx = await browser.newContext({ viewport: mobile ? { width: 390, height: 844 } : { width: 1280, height: 800 }, ...(mobile ? { userAgent: MOBILE_UA, isMobile: true, hasTouch: true } : { userAgent: DESKTOP_UA }) });
  const vp = await vctx.newPage();
  await vp.goto(`${fixtureOrigin}/${query}`, referrer ? { referer: referrer } : {});
  await waitFor(() => vp.evaluate(() => typeof window.sightline === "function"), "the tracker to load", 15_000);
  await vp.waitForTimeout(1200);
  for (let i = 0; i < steps; i++) {
    await Promise.all([vp.waitForNavigation(), vp.click("#next")]);
    await waitFor(() => vp.evaluate(() => typeof window.sightline === "function"), "the tracker to load", 15_000);
    await vp.waitForTimeout(1200);
  }
  await leave(vp); // page hide sends the page view's end and flushes the recording
  await vctx.close();
}

const overview = async () => {
  const r = await call("POST", `/api/v1/sites/${siteId}/traffic:overview`, { range: { start: new Date(Date.now() - 86_400_000).toISOString(), end: new Date(Date.now() + 3_600_000).toISOString() } });
  assert.equal(r.status, 200, r.text);
  return r.json();
};

/** overviewToday is the overview of the site's "today" in UTC (the site's zone here), hourly, as the page asks for it. */
const overviewToday = async () => {
  const day = new Date().toISOString().slice(0, 10);
  const r = await call("POST", `/api/v1/sites/${siteId}/traffic:overview`, { range: { start: `${day}T00:00:00Z`, end: new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString() }, interval: "TRAFFIC_INTERVAL_HOUR" });
  assert.equal(r.status, 200, r.text);
  return r.json();
};

const breakdown = async (dimension) => {
  const r = await call("POST", `/api/v1/sites/${siteId}/traffic:breakdown`, { dimension, range: { start: new Date(Date.now() - 86_400_000).toISOString(), end: new Date(Date.now() + 3_600_000).toISOString() } });
  return r.status === 200 ? r.json().rows : r.text;
};

test("four visitors from three referrers and directly, on desktop and mobile, are counted", { timeout: 240_000 }, async () => {
  await waitFor(async () => (await (await fetch(`${sl.base}/s/${siteKey}.js`)).text()).includes("hitEndpoint"), "the bootstrap to carry hitEndpoint", 30_000);
  // Completes the funnel.
  await visit({ referrer: "https://news.example/today", query: "?utm_source=newsletter&utm_medium=email&utm_campaign=spring", steps: 3 });
  // Drops off after pricing.
  await visit({ referrer: "https://search.example/?q=teapot", steps: 1 });
  // Mobile, drops off after sign-up.
  await visit({ mobile: true, referrer: "https://social.example/post/1", query: "?utm_source=social&utm_campaign=autumn", steps: 2 });
  // Mobile, direct, bounces.
  await visit({ mobile: true, steps: 0 });
  let last;
  const ov = await waitFor(async () => {
    const o = (last = await overview());
    return Number(o.current?.sessions ?? 0) === 4 && Number(o.current?.pageViews ?? 0) === 10 && o;
  }, "four sessions and ten page views in the traffic numbers", 60_000).catch(async (e) => {
    throw new Error(`${e.message}; last overview ${JSON.stringify(last?.current)}; by referrer ${JSON.stringify(await breakdown("TRAFFIC_DIMENSION_REFERRER"))}; by device ${JSON.stringify(await breakdown("TRAFFIC_DIMENSION_DEVICE_TYPE"))}; log: ${sl.log().slice(-3000)}`);
  });
  assert.equal(Number(ov.current.visitors), 4);
  assert.equal(Number(ov.current.bounces), 1);
});

test("Realtime shows the visitors of the last five minutes", { timeout: 60_000 }, async () => {
  await page.goto(sitePage("realtime"));
  await waitFor(async () => (await page.getByTestId("rt-visitors").textContent().catch(() => ""))?.trim() === "4", "four visitors now", 30_000);
  assert.equal((await page.getByTestId("rt-pageviews").textContent())?.trim(), "10");
  assert.ok((await page.getByTestId("rt-page-row").count()) >= 1);
  // The per-minute bars are drawn (uPlot's canvas); End selects this minute and the line below names it.
  await page.locator("[data-testid=rt-chart-plot][data-state=drawn] canvas").waitFor({ timeout: 10_000 });
  await page.getByTestId("rt-chart-plot").focus();
  await page.keyboard.press("End");
  assert.match((await page.getByTestId("rt-chart-tip").textContent()) ?? "", /page views · this minute/);
  await page.keyboard.press("ArrowLeft");
  assert.match((await page.getByTestId("rt-chart-tip").textContent()) ?? "", /page views · 1 min ago/);
  await screenshots("realtime");
  // Its table has the same minutes: the ten page views, 30 rows.
  await page.getByTestId("rt-view-table").click();
  const minutes = await page.locator("[data-testid=rt-table] tbody tr td").allTextContents();
  assert.equal(minutes.length, 30);
  assert.equal(minutes.reduce((n, c) => n + Number(c.replace(/,/g, "")), 0), 10);
  await page.getByTestId("rt-view-table-chart").click();
  await page.locator("[data-testid=rt-chart-plot][data-state=drawn]").waitFor();
});

test("the Overview shows the tiles and breakdown rows, and a row links to its recordings", { timeout: 240_000 }, async () => {
  // Sessions count as recorded once recordings' summaries reach search.
  await waitFor(async () => Number((await overview()).current?.recordedSessions ?? 0) === 4, "four recorded sessions in the traffic numbers", 150_000);
  await page.goto(sitePage("overview?range=today"));
  await page.getByTestId("tr-tiles").waitFor({ timeout: 30_000 });
  const tile = async (k) => (await page.getByTestId(`tile-${k}`).textContent())?.trim();
  assert.equal(await tile("visitors"), "4");
  assert.equal(await tile("sessions"), "4");
  assert.equal(await tile("pageviews"), "10");
  assert.equal(await tile("vps"), "2.50");
  assert.equal(await tile("bounce"), "25%");
  assert.equal(await tile("recorded"), "4");
  // Nothing yesterday: every count is new.
  assert.equal((await page.getByTestId("delta-visitors").textContent())?.startsWith("↑ new"), true);

  const rows = async (dimension) => {
    const t = page.locator(`[data-testid=breakdown-${dimension}]`);
    await t.waitFor({ timeout: 15_000 });
    const out = {};
    for (const r of await t.locator("[data-testid=breakdown-row]").all()) out[(await r.getAttribute("data-value")) ?? ""] = Number((await r.getByTestId("row-sessions").textContent())?.replace(/,/g, ""));
    return out;
  };
  assert.deepEqual(await rows("referrer"), { "news.example": 1, "search.example": 1, "social.example": 1, "": 1 });
  assert.match((await page.locator("[data-testid=breakdown-referrer] [data-value='']").textContent()) ?? "", /Direct \/ none/);
  await page.getByTestId("tab-utm_campaign").click();
  assert.deepEqual(await rows("utm_campaign"), { autumn: 1, spring: 1, "": 2 });
  assert.deepEqual(await rows("device"), { DEVICE_TYPE_DESKTOP: 2, DEVICE_TYPE_MOBILE: 2 });
  const pages = await rows("page");
  assert.deepEqual(Object.values(pages).sort(), [1, 2, 3, 4]);
  // The series has the ten page views too.
  await page.getByTestId("metric-pageViews").click();
  await page.locator("[data-testid=series-chart-plot][data-state=drawn] canvas").waitFor({ timeout: 10_000 });
  // The keyboard reads the series: → from nothing selects the first hour, End the last.
  await page.getByTestId("series-chart-plot").focus();
  await page.keyboard.press("ArrowRight");
  assert.match((await page.getByTestId("series-chart-tip").textContent()) ?? "", /^\d+ page views · \w{3} \d+ \w{3}, 00:00/);
  await page.keyboard.press("End");
  assert.match((await page.getByTestId("series-chart-tip").textContent()) ?? "", /^\d+ page views · \w{3} \d+ \w{3}, \d\d:00$/);
  // Hover the busiest hour (the visits happened in one or two of them), as a reader would.
  const hourly = (await overviewToday()).series.map((b) => Number(b.pageViews ?? 0));
  const busiest = hourly.indexOf(Math.max(...hourly));
  const box = await page.getByTestId("series-chart-plot").locator(".u-over").boundingBox();
  await page.mouse.move(box.x + (busiest / Math.max(1, hourly.length - 1)) * box.width, box.y + box.height / 2);
  await waitFor(async () => ((await page.getByTestId("series-chart-tip").textContent()) ?? "").startsWith(`${hourly[busiest]} page views`), "the tip to name the hovered hour", 5_000);
  await screenshots("overview");
  await page.getByTestId("view-table").click();
  const cells = await page.locator("[data-testid=series-table] tbody tr td:nth-child(4)").allTextContents();
  assert.equal(cells.reduce((s, c) => s + Number(c.replace(/,/g, "")), 0), 10);
  await page.screenshot({ path: path.join(shots, "overview-table.png"), fullPage: true });

  // A referrer row opens the recordings list filtered to that referrer: one session.
  await page.getByTestId("tab-referrer").click();
  await page.locator("[data-testid=breakdown-referrer] [data-value='search.example'] [data-testid=row-recordings]").click();
  await page.waitForURL(/\/recordings\?/);
  assert.match(page.url(), /ref=search\.example/);
  await waitFor(async () => (await page.getByTestId("recording-row").count()) === 1, "one recording from search.example", 20_000);

  // A row's label narrows the overview.
  await page.goto(sitePage("overview?range=today"));
  await page.locator("[data-testid=breakdown-device] [data-value=DEVICE_TYPE_MOBILE] button").click();
  await waitFor(async () => (await tile("sessions")) === "2", "the mobile sessions", 15_000);
  assert.match(page.url(), /device=mobile/);
  assert.equal(await tile("bounce"), "50%");
  assert.deepEqual(await axe(sitePage("overview?range=today"), "[data-testid=breakdown-row]"), []);
});

test("the site's time zone is chosen in settings and names the overview's days", { timeout: 60_000 }, async () => {
  await page.goto(sitePage("setup?tab=settings"));
  await page.getByTestId("time-zone").selectOption("Pacific/Kiritimati");
  await page.getByTestId("save-settings").click();
  await page.getByText("Saved.").waitFor();
  const r = await call("GET", `/api/v1/sites/${siteId}/settings`);
  assert.equal(r.json().settings.timeZone, "Pacific/Kiritimati");
  await page.goto(sitePage("overview?range=today"));
  await page.getByTestId("tr-tiles").waitFor({ timeout: 20_000 });
  assert.match((await page.getByTestId("tr-tz").textContent()) ?? "", /Pacific\/Kiritimati/);
  // Kiritimati is UTC+14: its "today" is the UTC date 14 hours on.
  const today = new Date(Date.now() + 14 * 3_600_000).toISOString().slice(0, 10);
  assert.match((await page.getByTestId("tr-tz").textContent()) ?? "", new RegExp(`^${today}`));
  await page.goto(sitePage("setup?tab=settings"));
  await page.getByTestId("time-zone").selectOption("UTC");
  await page.getByTestId("save-settings").click();
  await page.getByText("Saved.").waitFor();
});

test("a funnel over the fixture pages converts one in four; the drop-off opens the session that dropped off", { timeout: 120_000 }, async () => {
  const dropped = await call("POST", `/api/v1/sites/${siteId}/sessions:search`, { filter: { referrerDomain: "search.example" }, pageSize: 5 });
  assert.equal(dropped.status, 200, dropped.text);
  const droppedId = dropped.json().sessions?.[0]?.sessionId;
  assert.ok(droppedId, "the search.example session is recorded");

  await page.goto(sitePage("funnels?f=new"));
  await page.getByTestId("fn-builder").waitFor({ timeout: 20_000 });
  await page.getByTestId("fn-add-step").click();
  await page.getByTestId("fn-add-step").click();
  const steps = page.getByTestId("fn-step");
  const paths = ["/", "/pricing", "/signup", "/thanks"];
  for (let i = 0; i < paths.length; i++) await steps.nth(i).getByTestId("fn-step-value").fill(paths[i]);
  await steps.nth(3).getByTestId("fn-step-label").fill("Signed up");
  await page.getByTestId("fn-range").selectOption("today");
  assert.match(page.url(), /range=today/);
  const results = page.getByTestId("fn-result");
  await waitFor(async () => (await results.count()) === 4, "four step results", 20_000);
  const counts = async () => Promise.all((await results.all()).map(async (r) => Number(await r.getAttribute("data-sessions"))));
  await waitFor(async () => JSON.stringify(await counts()) === "[4,3,2,1]", "4, 3, 2, 1 sessions per step", 15_000);
  assert.match((await page.getByTestId("fn-overall").textContent()) ?? "", /^25%/);
  await page.getByTestId("fn-name").fill("Sign-up");
  await page.getByTestId("fn-save").click();
  await page.waitForURL(/f=\d+/);
  await page.getByTestId("fn-list-item").filter({ hasText: "Sign-up" }).waitFor();
  const saved = await call("GET", `/api/v1/sites/${siteId}/funnels`);
  assert.equal(saved.json().funnels?.[0]?.steps?.length, 4);

  // Step 3 (sign-up): the search.example visitor reached pricing and left.
  await results.nth(2).getByTestId("fn-dropoff").click();
  const list = page.getByTestId("fn-sessions-list");
  await list.waitFor();
  await waitFor(async () => (await list.getByTestId("recording-row").count()) === 1, "one dropped-off recording", 20_000);
  assert.equal(await list.getByTestId("recording-row").getAttribute("data-session-id"), droppedId);
  await page.screenshot({ path: path.join(shots, "funnel.png"), fullPage: true });
  assert.deepEqual(await axe(page.url(), "[data-testid=fn-result]"), []);
  await list.getByTestId("recording-row").click();
  await page.waitForURL(new RegExp(`/recordings/${droppedId}`));
});
