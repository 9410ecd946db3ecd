// The dashboard on a 390 px phone and with long page addresses, in real
// Chromium against the real binary. One visit walks three pages whose paths
// share a long start (as the demo shop's all begin /demo/k_<key>/); then:
// the replay, the recordings list and the overview fit the phone's width
// with their controls on screen; the recordings' filters open from a button
// at the top; the pages are told apart by the ends of their paths (in the
// list, the replay's event list, the overview and the filter suggestions),
// with the whole address in the tooltip.
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/mobile.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DESKTOP_UA, browserWithSite, leave, serveHtml, startSightline, waitFor } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const results = path.resolve(here, "../test-results");
const bin = process.env.SIGHTLINE_BIN;
const PHONE = { width: 390, height: 844 };
// A start long enough that, cut from the end, every page would read the same.
const PREFIX = "/demo/k_o0DqPPgR2Kug6PFRAaolypwJ_shared_start";
const PAGES = [`${PREFIX}/products/stoneware-mug`, `${PREFIX}/cart`, `${PREFIX}/checkout`];

let sl, fixture, siteKey = "";

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build)");
  mkdirSync(results, { recursive: true });
  sl = await startSightline(bin);
  fixture = await serveHtml(
    () => `<!doctype html><html><head><title>Shop</title><script async src="${sl.base}/s/${siteKey}.js"></script></head>
<body><h1>Lumen &amp; Co.</h1><button id="buy">Add to cart</button></body></html>`,
  );
});

after(async () => {
  fixture?.server.close();
  await sl?.stop();
});

/** sticksOut answers the named controls (data-testid) that are missing or not wholly inside the viewport's width. */
function sticksOut(page, ids) {
  return page.evaluate((ids) => {
    const w = document.documentElement.clientWidth;
    return ids.filter((id) => {
      const el = document.querySelector(`[data-testid=${id}]`);
      if (!el) return true;
      const r = el.getBoundingClientRect();
      return r.width === 0 || r.left < 0 || r.right > w + 0.5;
    });
  }, ids);
}

const pageWidth = (page) => page.evaluate(() => document.documentElement.scrollWidth);

/** tails answers the texts of the ends of the paths shown in scope, and which of them are cut (not wholly drawn). */
function tails(page, scope) {
  return page.locator(`${scope} .path-tail`).evaluateAll((els) =>
    els.map((el) => ({ text: el.textContent, cut: el.scrollWidth > el.clientWidth + 0.5 || el.getBoundingClientRect().width === 0 })),
  );
}

test("a phone: replay, list and overview fit, filters open from the top; long paths keep their ends", { timeout: 240_000 }, async (t) => {
  const { browser, ctx, orgId, call, siteId, siteKey: key } = await browserWithSite(sl.base, `mobile-${Date.now()}@example.com`);
  t.after(() => browser.close());
  siteKey = key;

  // One visit through three pages with a long shared start.
  const vctx = await browser.newContext({ userAgent: DESKTOP_UA, viewport: { width: 1280, height: 720 } });
  const visitor = await vctx.newPage();
  for (const p of PAGES) {
    await visitor.goto(fixture.origin + p);
    await waitFor(() => visitor.evaluate(() => typeof window.sightline === "function"), "the tracker to load", 15_000);
    await visitor.click("#buy");
    await visitor.waitForTimeout(700);
  }
  await leave(visitor);
  await vctx.close();
  const session = await waitFor(async () => {
    const s = (await call("POST", `/api/v1/sites/${siteId}/sessions:search`, {})).json().sessions?.[0];
    return s && Number(s.pageCount) === PAGES.length ? s : undefined;
  }, "the visit to be listed with its three pages", 90_000);

  const phone = await browser.newContext({ viewport: PHONE, storageState: await ctx.storageState() });
  t.after(() => phone.close());
  const page = await phone.newPage();
  const site = `${sl.base}/o/${orgId}/sites/${siteId}`;

  // The replay: as wide as the phone, its controls on screen, its pages told apart.
  await page.goto(`${site}/recordings/${encodeURIComponent(session.sessionId)}`);
  await page.locator("[data-testid=replay-player][data-ready='1']").waitFor({ timeout: 60_000 });
  await page.locator("[data-testid=event-list-item][data-kind=page]").nth(PAGES.length - 1).waitFor({ timeout: 30_000 });
  await page.screenshot({ path: path.join(results, "mobile-replay.png"), fullPage: true });
  assert.ok((await pageWidth(page)) <= PHONE.width, `the replay page is ${await pageWidth(page)} px wide on a ${PHONE.width} px phone`);
  assert.deepEqual(await sticksOut(page, ["back-to-list", "prev-recording", "next-recording", "play-pause", "skip-inactive", "copy-link", "tab-session", "event-list"]), [], "controls off the screen");
  assert.deepEqual(
    (await tails(page, "[data-testid=event-list-item][data-kind=page]")).map((x) => x.text),
    ["/stoneware-mug", "/cart", "/checkout"],
    "the event list shows each page's end",
  );
  assert.ok((await tails(page, "[data-testid=event-list-item][data-kind=page]")).every((x) => !x.cut), "no page's end is cut");
  assert.equal(await page.locator("[data-testid=event-list-item][data-kind=page]").nth(1).getAttribute("title"), fixture.origin + PAGES[1], "the whole address is the tooltip");

  // The list: "Filters" at the top opens the panel above the list.
  await page.goto(`${site}/recordings`);
  await page.getByTestId("recording-row").first().waitFor();
  assert.ok((await pageWidth(page)) <= PHONE.width, `the recordings page is ${await pageWidth(page)} px wide`);
  const toggle = page.getByTestId("filters-toggle");
  const toggleBox = await toggle.boundingBox();
  assert.ok(toggleBox && toggleBox.y < PHONE.height / 2, `the Filters button is at the top (y ${toggleBox?.y})`);
  assert.equal(await page.getByTestId("filters").isVisible(), false, "the filters are folded away at first");
  const startedBox = await page.getByRole("columnheader", { name: "Started" }).boundingBox();
  const pagesBox = await page.getByRole("columnheader", { name: "Pages" }).boundingBox();
  assert.ok(startedBox.x + startedBox.width <= PHONE.width && pagesBox.x + pagesBox.width <= PHONE.width, "Started and Pages are on screen");
  await toggle.click();
  await page.getByTestId("filters").waitFor();
  assert.equal(await toggle.getAttribute("aria-expanded"), "true");
  const filtersBox = await page.getByTestId("filters").boundingBox();
  const listBox = await page.getByTestId("recordings-list").boundingBox();
  assert.ok(filtersBox.y > toggleBox.y && filtersBox.y < listBox.y, "the panel opens between the button and the list");
  // The visited-page suggestions stay inside the panel, their counts in view.
  const suggestions = await page.locator(".top-pages .link-button").evaluateAll((els) =>
    els.map((el) => {
      const panel = el.closest(".filters").getBoundingClientRect();
      const b = el.getBoundingClientRect();
      const count = el.querySelector(".facet-count").getBoundingClientRect();
      return { inside: b.right <= panel.right + 0.5 && count.right <= panel.right + 0.5 && count.width > 0, tail: el.querySelector(".path-tail")?.textContent };
    }),
  );
  assert.ok(suggestions.length >= PAGES.length, `suggestions: ${JSON.stringify(suggestions)}`);
  assert.ok(suggestions.every((s) => s.inside), `suggestions stick out of the panel: ${JSON.stringify(suggestions)}`);
  assert.deepEqual(new Set(suggestions.map((s) => s.tail)), new Set(["/stoneware-mug", "/cart", "/checkout"]));
  await page.screenshot({ path: path.join(results, "mobile-recordings-filters.png"), fullPage: true });
  await page.getByTestId("filters-done").click();
  assert.equal(await page.getByTestId("filters").isVisible(), false, "Show … recordings folds the panel away");

  // A heatmap's link on a phone: with the panel folded away, chips above the
  // list say what narrows it, a long selector cut inside the screen.
  const longSelector = "html>body>main>section.product-grid>article.card:nth-of-type(12)>div.actions>button.add-to-cart";
  await page.goto(`${site}/recordings?${new URLSearchParams({ clicked: longSelector, device: "mobile" })}`);
  await page.getByTestId("active-filters").waitFor();
  assert.equal(await page.getByTestId("filters").isVisible(), false, "the panel stays folded");
  const chipBoxes = await page.getByTestId("filter-chip").evaluateAll((els) => els.map((el) => ({ id: el.dataset.filter, right: el.getBoundingClientRect().right, title: el.title })));
  assert.deepEqual(chipBoxes.map((c) => c.id), ["devices:DEVICE_TYPE_MOBILE", "clickedElement"]);
  assert.ok(chipBoxes.every((c) => c.right <= PHONE.width), `chips stick out of the screen: ${JSON.stringify(chipBoxes)}`);
  assert.equal(chipBoxes[1].title, `Clicked ${longSelector}`, "the whole selector is the tooltip");
  assert.ok((await pageWidth(page)) <= PHONE.width, `the recordings page is ${await pageWidth(page)} px wide with chips`);
  await page.screenshot({ path: path.join(results, "mobile-recordings-chips.png") });

  // The overview: its cards as wide as the phone, the Pages card's tabs on screen.
  await page.goto(`${site}/overview`);
  await page.getByTestId("breakdown-page").waitFor({ timeout: 30_000 });
  await page.screenshot({ path: path.join(results, "mobile-overview.png"), fullPage: true });
  assert.ok((await pageWidth(page)) <= PHONE.width, `the overview is ${await pageWidth(page)} px wide`);
  assert.deepEqual(await sticksOut(page, ["bd-pages", "tab-page", "tab-entry", "tab-exit", "bd-sources", "tab-utm_campaign", "tab-screen"]), [], "overview controls off the screen");
  const rows = await tails(page, "[data-testid=breakdown-page]");
  assert.deepEqual(new Set(rows.map((x) => x.text)), new Set(["/stoneware-mug", "/cart", "/checkout"]), "the overview's pages by their ends");
  assert.ok(rows.every((x) => !x.cut), `a page's end is cut: ${JSON.stringify(rows)}`);

  // On a desktop the list's Pages column shows the entry page's end too.
  const desk = await ctx.newPage();
  await desk.goto(`${site}/recordings`);
  await desk.getByTestId("recording-row").first().waitFor();
  const entry = (await tails(desk, "[data-testid=recording-row]"))[0];
  assert.deepEqual(entry, { text: "/stoneware-mug", cut: false }, "the list's entry page");
  assert.equal(await desk.locator("[data-testid=recording-row] .path-text").first().getAttribute("title"), fixture.origin + PAGES[0]);
});
