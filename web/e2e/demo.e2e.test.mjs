// The demo shop end to end, as a newcomer meets it, against the real binary
// in Debian's Chromium: sign up, click "Try it on the demo shop", click
// around in the shop the binary serves (a product, the cart, the checkout
// with a masked card number) with its tab still open, then find the visit
// in the recordings list, replay it, see a non-empty click heatmap of a
// /demo/ page and the visit in the numbers — each within a bounded wait,
// and the time from sign-up printed (the newcomer's minute). With
// -demo.enabled=false the shop is 404 and the card is not offered.
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/demo.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DESKTOP_UA, launchChromium, signUp, startSightline, waitFor } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const shots = path.resolve(process.env.SCREENSHOT_DIR ?? path.join(here, "../test-results/demo"));
const bin = process.env.SIGHTLINE_BIN;
// The newcomer's minute: every step below must be seen within it.
const MINUTE = 60_000;
const CARD = "4111111111111111";

let browser;

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build) to run the demo end-to-end test");
  mkdirSync(shots, { recursive: true });
  console.log(`demo screenshots: ${shots}`);
  // A desktop browser's user agent, as a newcomer's (headless Chromium's own is a bot, which heatmaps leave out),
  // given to the browser, not the context: the tab the card opens with window.open would not get the context's.
  browser = await launchChromium({ userAgent: DESKTOP_UA });
});

after(async () => {
  await browser?.close();
});

test("a newcomer sees their own demo-shop visit: recording, replay, heatmap, numbers", { timeout: 240_000 }, async () => {
  const sl = await startSightline(bin);
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const t0 = Date.now();
    const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    const { orgId, call } = await signUp(ctx, sl.base, "newcomer@example.com");

    const cfg = await call("GET", "/api/v1/config");
    assert.equal(cfg.json().demoEnabled, true, `the one-process default serves the demo: ${cfg.text}`);

    // After sign-up the dashboard opens on the empty Sites page, with the card.
    const dash = await ctx.newPage();
    await dash.goto(`${sl.base}/`);
    const card = dash.getByTestId("demo-card");
    await card.waitFor({ timeout: 15_000 });
    assert.match(await card.innerText(), /Try it on the demo shop/);
    await dash.screenshot({ path: path.join(shots, "1-card.png") });

    const shopErrors = [];
    const { shop, siteKey, siteId } = await openDemoShop(ctx, dash, { orgId, call }, (shop) => {
      shop.on("console", (m) => m.type() === "error" && shopErrors.push(m.text()));
      shop.on("pageerror", (e) => shopErrors.push(String(e)));
      shop.on("response", (r) => r.status() >= 400 && shopErrors.push(`${r.status()} ${r.url()}`));
    });
    console.log(`demo shop open ${since()} after sign-up: ${shop.url()}`);
    // The card brought this tab to the site's recordings.
    await dash.waitForURL(new RegExp(`/o/${orgId}/sites/${siteId}/recordings`), { timeout: 10_000 });
    await dash.getByTestId("demo-card").waitFor();
    assert.match(await dash.getByTestId("demo-card").innerText(), /Waiting for your visit/);

    // Clicking around: a product, the cart, the checkout (typing a card number), the order.
    await waitFor(() => shop.evaluate(() => typeof window.sightline === "function"), "the snippet to load in the demo shop", 15_000);
    await shop.screenshot({ path: path.join(shots, "2-shop.png"), fullPage: true });
    await shop.mouse.move(300, 300, { steps: 5 });
    await shop.locator("[data-testid=product-card] h3 a").nth(1).click();
    await shop.waitForURL(/\/products\/mug$/);
    await shop.getByTestId("add-to-cart").click();
    await shop.waitForURL(/\/cart\?add=mug$/);
    assert.match(await shop.locator("main").innerText(), /Stoneware mug/);
    await shop.getByTestId("checkout").click();
    await shop.locator("input[name=name]").fill("Grace Hopper");
    await shop.locator("input[name=email]").fill("grace@navy.example");
    await shop.locator("input[name=card]").pressSequentially(CARD, { delay: 10 });
    await shop.screenshot({ path: path.join(shots, "3-checkout.png") });
    await shop.getByTestId("place-order").click();
    await shop.waitForURL(/\/order$/);
    await shop.getByTestId("to-dashboard").waitFor();
    // Let the snippet send what the thank-you page recorded; the tab stays open, as a newcomer leaves it.
    await shop.mouse.move(400, 400, { steps: 5 });
    await shop.waitForTimeout(1500);
    console.log(`clicked around the shop by ${since()}`);
    assert.deepEqual(shopErrors, [], "the demo shop logs no errors (CSP included)");

    // Back in the dashboard: the recordings list fills by itself (it polls while empty).
    await dash.bringToFront();
    await dash.locator("[data-testid=recording-row]").first().waitFor({ timeout: MINUTE });
    console.log(`the visit is in the recordings list ${since()} after sign-up`);
    await dash.screenshot({ path: path.join(shots, "4-recordings.png") });
    assert.equal(await dash.getByTestId("demo-card").count(), 0, "the card goes once there is a recording");

    // The replay plays what was recorded so far (the session is still live: the shop's tab is open).
    await dash.locator("[data-testid=recording-row] a").first().click();
    await dash.locator("[data-testid=replay-player][data-ready='1']").waitFor({ timeout: MINUTE });
    const frame = dash.frameLocator("[data-testid=replay-frame] iframe");
    await frame.locator("text=Lumen").first().waitFor({ timeout: MINUTE });
    console.log(`the replay shows the shop ${since()} after sign-up`);
    await dash.screenshot({ path: path.join(shots, "5-replay.png") });

    // What was typed in the card number never left the page; the name, which opts in, did.
    const sessions = (await call("POST", `/api/v1/sites/${siteId}/sessions:search`, {})).json();
    const session = sessions.sessions?.[0];
    assert.equal(session?.client?.deviceType, "DEVICE_TYPE_DESKTOP", JSON.stringify(session?.client));
    // The checkout page's events come with its last batch, sent as the order page replaced it.
    const events = await waitFor(async () => {
      const rec = await call("GET", `/api/v1/sites/${siteId}/sessions/${session.sessionId}/recording`);
      assert.equal(rec.status, 200, rec.text.slice(0, 300));
      const all = rec.text.split("\n").filter(Boolean).map((l) => Buffer.from(JSON.parse(l).result?.events ?? "", "base64").toString()).join("");
      return all.includes("Grace Hopper") && all;
    }, "the name typed at the checkout (opted in with data-sl-unmask) in the recording", MINUTE);
    assert.ok(!events.includes(CARD) && !events.includes(CARD.slice(0, 8)), "the card number is never recorded");
    assert.ok(!events.includes("grace@navy"), "the e-mail field is masked");

    // A non-empty click heatmap of a /demo/ page.
    let seen = "";
    const clicks = await waitFor(async () => {
      const pages = (await call("GET", `/api/v1/sites/${siteId}/heatmap/pages?query=demo`)).json().pages ?? [];
      seen = JSON.stringify(pages);
      for (const p of pages) {
        if (!p.url.includes(`/demo/${siteKey}`) || !Number(p.clicks)) continue;
        const q = new URLSearchParams({ "page.operator": "OPERATOR_EQUALS", "page.value": p.url, kind: "HEATMAP_KIND_CLICK" });
        const h = (await call("GET", `/api/v1/sites/${siteId}/heatmap?${q}`)).json();
        seen += ` ${p.url}: ${JSON.stringify(h).slice(0, 300)}`;
        if (Number(h.total ?? 0) > 0) return { url: p.url, total: Number(h.total) };
      }
      return undefined;
    }, "a click heatmap of a /demo/ page", MINUTE).catch((e) => assert.fail(`${e.message}; pages: ${seen}`));
    console.log(`click heatmap of ${clicks.url}: ${clicks.total} click${clicks.total === 1 ? "" : "s"}, ${since()} after sign-up`);
    await dash.goto(`${sl.base}/o/${orgId}/sites/${siteId}/heatmaps?${new URLSearchParams({ page: clicks.url })}`);
    await dash.locator("[data-testid=heat-stage][data-state=drawn]").waitFor({ timeout: MINUTE });
    await dash.screenshot({ path: path.join(shots, "6-heatmap.png") });

    // The numbers: the visit is counted, and the Overview shows it.
    const range = { start: new Date(Date.now() - 86_400_000).toISOString(), end: new Date(Date.now() + 3_600_000).toISOString() };
    const totals = await waitFor(async () => {
      const r = (await call("POST", `/api/v1/sites/${siteId}/traffic:overview`, { range })).json();
      return Number(r.current?.pageViews ?? 0) >= 5 && r.current;
    }, "the visit's page views in the traffic numbers", MINUTE);
    console.log(`traffic: ${totals.visitors} visitor(s), ${totals.pageViews} page views, ${since()} after sign-up`);
    await dash.goto(`${sl.base}/o/${orgId}/sites/${siteId}/overview`);
    await waitFor(async () => Number((await dash.getByTestId("tile-pageviews").innerText()).replace(/\D/g, "")) >= 5, "the Overview's page views tile", MINUTE);

    const took = Date.now() - t0;
    console.log(`newcomer's minute: sign-up to recording, replay, heatmap and numbers took ${(took / 1000).toFixed(1)} s`);
    await secondOrganization(sl.base, { siteId, siteKey, sessionId: session.sessionId, call });
    await shop.close();
    await ctx.close();
  } finally {
    await sl.stop();
  }
});

// openDemoShop clicks the demo card on dash and answers the shop's tab
// (watch sees it before it loads), its key and the one site the card made:
// "Demo shop", on the dashboard's host, with that key.
async function openDemoShop(ctx, dash, { orgId, call }, watch = () => {}) {
  const [shop] = await Promise.all([ctx.waitForEvent("page"), dash.getByTestId("demo-open").click()]);
  watch(shop);
  await shop.waitForURL(/\/demo\/k_[A-Za-z0-9_-]+\/$/, { timeout: 15_000 });
  const siteKey = /\/demo\/(k_[A-Za-z0-9_-]+)\//.exec(shop.url())[1];
  const sites = (await call("GET", `/api/v1/organizations/${orgId}/sites`)).json().sites ?? [];
  assert.equal(sites.length, 1, JSON.stringify(sites));
  assert.equal(sites[0].name, "Demo shop");
  assert.deepEqual(sites[0].domains, ["localhost"]);
  assert.equal(sites[0].siteKey, siteKey);
  return { shop, siteKey, siteId: sites[0].id };
}

// secondOrganization: another newcomer, in another organisation, opens the
// demo shop on the same host as the first (a domain is unique within an
// organisation, not the instance): it gets its own "Demo shop" with its own
// key, its visit lands in its site only, and the first's stays in the
// first's. Within the second organisation, the host on a second site is
// refused with a message naming its own site.
async function secondOrganization(base, first) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const { orgId, call } = await signUp(ctx, base, "second-newcomer@example.com");
  const dash = await ctx.newPage();
  await dash.goto(`${base}/`);
  await dash.getByTestId("demo-card").waitFor({ timeout: 15_000 });
  const { shop, siteKey, siteId } = await openDemoShop(ctx, dash, { orgId, call });
  assert.notEqual(siteKey, first.siteKey, "the second organisation's demo shop has its own key");

  await waitFor(() => shop.evaluate(() => typeof window.sightline === "function"), "the snippet in the second demo shop", 15_000);
  await shop.mouse.move(300, 300, { steps: 5 });
  await shop.locator("[data-testid=product-card] h3 a").first().click();
  await shop.waitForURL(/\/products\/[a-z-]+$/);
  await shop.mouse.move(400, 400, { steps: 5 });
  await shop.waitForTimeout(1500);
  await dash.bringToFront();
  await dash.locator("[data-testid=recording-row]").first().waitFor({ timeout: MINUTE });
  await dash.screenshot({ path: path.join(shots, "7-second-organization.png") });

  // Data never mixes: each site holds only its own visit, and neither user reads the other's site.
  const ids = async (c, site) => ((await c("POST", `/api/v1/sites/${site}/sessions:search`, {})).json().sessions ?? []).map((x) => x.sessionId);
  const mine = await ids(call, siteId);
  assert.ok(mine.length >= 1 && !mine.includes(first.sessionId), `second site's sessions ${mine}, first's visit ${first.sessionId}`);
  const theirs = await ids(first.call, first.siteId);
  assert.ok(theirs.includes(first.sessionId) && !theirs.some((x) => mine.includes(x)), `first site's sessions ${theirs}, second's ${mine}`);
  assert.notEqual((await call("GET", `/api/v1/sites/${first.siteId}`)).status, 200, "the second user reads the first's site");

  // Within the organisation the host is on one site: the refusal names that site, the user's own.
  const blog = await call("POST", `/api/v1/organizations/${orgId}/sites`, { name: "Blog", domains: [] });
  assert.equal(blog.status, 200, blog.text);
  await dash.goto(`${base}/o/${orgId}/sites/${blog.json().site.id}/setup?tab=settings`);
  await dash.getByTestId("domain-input").fill("localhost");
  await dash.getByRole("button", { name: "Add domain" }).click();
  const refusal = dash.locator(".error-box");
  await refusal.waitFor({ timeout: 10_000 });
  assert.match(await refusal.innerText(), /^localhost is already on your site "Demo shop"/);
  await dash.screenshot({ path: path.join(shots, "8-domain-refused.png") });
  await shop.close();
  await ctx.close();
}

test("-demo.enabled=false: no shop, no card", { timeout: 120_000 }, async () => {
  const sl = await startSightline(bin, ["-demo.enabled=false"]);
  try {
    const ctx = await browser.newContext();
    const { call } = await signUp(ctx, sl.base, "off@example.com");
    assert.equal((await call("GET", "/api/v1/config")).json().demoEnabled ?? false, false);
    const res = await fetch(`${sl.base}/demo/k_abcdefghijklmnop/`);
    assert.equal(res.status, 404);
    const page = await ctx.newPage();
    await page.goto(`${sl.base}/`);
    await page.getByTestId("create-site-form").waitFor({ timeout: 15_000 });
    assert.equal(await page.getByTestId("demo-card").count(), 0);
    await ctx.close();
  } finally {
    await sl.stop();
  }
});
