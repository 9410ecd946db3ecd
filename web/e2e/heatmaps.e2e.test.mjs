// Heatmaps end to end, against the real binary in Debian's Chromium: visits
// to a responsive fixture page (three columns wide, one column narrow) at
// four widths and three device classes (desktop 1280 and 1440, tablet 820
// with an iPad user agent, mobile 390 with an iPhone one), with clicks at
// known places of known elements, pointer moves and scrolls to known depths.
// Then: GetHeatmap answers the expected counts per device and element; the
// Heatmaps page rebuilds the page and draws every click inside the element
// it was made on, although most were made at another width; a hot spot opens
// the recordings that clicked there; the scroll map's figures; a 100,000-cell
// map is drawn while the page keeps painting frames (< 200 ms apart).
// Screenshots of the click, move and scroll maps go to the directory printed
// (test-results/heatmaps, or SCREENSHOT_DIR).
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/heatmaps.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { browserWithSite, serveHtml, startSightline, waitFor } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const shots = path.resolve(process.env.SCREENSHOT_DIR ?? path.join(here, "../test-results/heatmaps"));
const axePath = path.resolve(here, "../node_modules/axe-core/axe.min.js");
const bin = process.env.SIGHTLINE_BIN;
const UA = {
  desktop: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  tablet: "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
  mobile: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
};
const DEVICE_TYPE = { desktop: "DEVICE_TYPE_DESKTOP", tablet: "DEVICE_TYPE_TABLET", mobile: "DEVICE_TYPE_MOBILE" };

// The visits: each click is [element id, fraction of its width, fraction of its height].
// "scroll" is how far down the page (0–1 of the scrollable distance) the visitor goes.
const VISITS = [
  { device: "desktop", width: 1280, clicks: [["buy", 0.2, 0.5], ["buy", 0.8, 0.3], ["pricing", 0.5, 0.5]], scroll: 1 },
  // With a query string: the same page key (heatmaps and the recordings filter both drop it).
  { device: "desktop", width: 1440, query: "?utm_source=news#top", clicks: [["buy", 0.5, 0.5], ["pricing", 0.1, 0.9]], scroll: 0 },
  { device: "tablet", width: 820, clicks: [["buy", 0.9, 0.9], ["pricing", 0.5, 0.5]], scroll: 0.5 },
  { device: "mobile", width: 390, clicks: [["buy", 0.1, 0.1], ["buy", 0.6, 0.6], ["cta", 0.5, 0.5]], scroll: 1 },
];
const SELECTOR = { buy: "button#buy", pricing: "a#pricing", cta: "a#cta" };
const LONG_PATH = "/collections/summer-2026/tea-and-coffee/teapots-and-kettles/stovetop-and-electric/glass-teapot-with-infuser";

/** expected counts clicks per device (or all) and element id. */
function expected(device) {
  const out = {};
  for (const v of VISITS) if (!device || v.device === device) for (const [id] of v.clicks) out[id] = (out[id] ?? 0) + 1;
  return out;
}

let sl, fixture, browser, ctx, call, orgId, siteId, siteKey = "", fixtureOrigin, pageKey;

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build) to run the heatmaps end-to-end test");
  mkdirSync(shots, { recursive: true });
  console.log(`heatmap screenshots: ${shots}`);
  sl = await startSightline(bin);
  ({ origin: fixtureOrigin, server: fixture } = await serveHtml(
    () => `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Teapot shop</title><script async src="${sl.base}/s/${siteKey}.js"></script>
<style>
* { box-sizing: border-box; } body { margin: 0; font: 16px sans-serif; color: #222; }
header { display: flex; gap: 16px; padding: 16px; background: #e8eaf6; }
header a { padding: 10px 18px; background: #c5cae9; color: #1a237e; text-decoration: none; }
.grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 24px; padding: 24px; }
.card { border: 1px solid #999; padding: 16px; min-height: 200px; background: #fafafa; }
#buy { display: block; width: 100%; height: 64px; font-size: 18px; background: #2e7d32; color: #fff; border: 0; }
.tall { height: 2400px; background: linear-gradient(#fff, #cfd8dc); padding: 24px; }
footer { padding: 24px; } #cta { display: inline-block; padding: 24px 48px; background: #ff7043; color: #fff; text-decoration: none; }
@media (max-width: 700px) { .grid { grid-template-columns: 1fr; padding: 8px; } header { flex-direction: column; } #cta { display: block; text-align: center; } }
</style></head><body>
<header><a href="#" id="home" onclick="return false">Home</a><a id="pricing">Pricing</a></header>
<main><div class="grid">
<div class="card"><h2>Classic teapot</h2><p>Hand made, 1.2 litres.</p></div>
<div class="card"><h2>Travel teapot</h2><p>Fits a bag.</p></div>
<div class="card"><h2>Glass teapot</h2><p id="n">In stock: 12</p><button id="buy" onclick="document.getElementById('n').textContent='Added ' + Date.now()">Buy</button></div>
</div><div class="tall"><p>Reviews, care instructions and more.</p></div></main>
<footer><a href="#" id="cta" onclick="this.textContent='Thanks ' + Date.now(); return false">Sign up for news</a></footer>
</body></html>`,
  ));
  ({ browser, ctx, orgId, call, siteId, siteKey } = await browserWithSite(sl.base, "heat@example.com", { viewport: { width: 1400, height: 900 } }));
  pageKey = `${fixtureOrigin}/shop`;

  for (const v of VISITS) await visit(v);
});

after(async () => {
  await browser?.close();
  fixture?.close();
  await sl?.stop();
});

/** visit records one visitor: pointer moves, the clicks at their places, a scroll, then page hide. */
async function visit(v) {
  const vctx = await browser.newContext({ viewport: { width: v.width, height: 800 }, userAgent: UA[v.device] });
  const page = await vctx.newPage();
  await page.goto(`${fixtureOrigin}/shop${v.query ?? ""}`);
  await waitFor(() => page.evaluate(() => typeof window.sightline === "function"), "the tracker to load", 15_000);
  await page.waitForTimeout(800);
  for (const [id, fx, fy] of v.clicks) {
    const el = page.locator(`#${id}`);
    await el.scrollIntoViewIfNeeded();
    const box = await el.boundingBox();
    // Rest the pointer near the element first (a move map), then click at the known place.
    await page.mouse.move(box.x + 5, box.y + 5, { steps: 6 });
    await page.waitForTimeout(300);
    await page.mouse.click(box.x + fx * box.width, box.y + fy * box.height);
    await page.waitForTimeout(700);
  }
  await page.waitForTimeout(1800); // past the dead-click window: a scroll would be the click's effect
  await page.evaluate((f) => window.scrollTo(0, f * (document.documentElement.scrollHeight - innerHeight)), v.scroll);
  await page.waitForTimeout(1000);
  await page.close(); // page hide flushes the last batch
  await vctx.close();
}

const heatmap = async (query) => {
  const p = new URLSearchParams({ "page.operator": "OPERATOR_EQUALS", "page.value": pageKey, ...query });
  const r = await call("GET", `/api/v1/sites/${siteId}/heatmap?${p}`);
  assert.equal(r.status, 200, r.text);
  return r.json();
};
const byElement = (res) => Object.fromEntries((res.elements ?? []).map((e) => [e.selector, Number(e.count)]));

test("GetHeatmap counts clicks per device and element; pages and scroll depth", { timeout: 180_000 }, async () => {
  const all = expected();
  const totalClicks = Object.values(all).reduce((a, b) => a + b, 0);
  await waitFor(async () => Number((await heatmap({ kind: "HEATMAP_KIND_CLICK" })).total ?? 0) === totalClicks, `all ${totalClicks} clicks to be counted`, 120_000);

  const pages = (await call("GET", `/api/v1/sites/${siteId}/heatmap/pages?query=shop`)).json().pages ?? [];
  const shop = pages.find((p) => p.url === pageKey);
  assert.ok(shop, `ListHeatmapPages lists ${pageKey}: ${JSON.stringify(pages)}`);
  assert.equal(Number(shop.pageViews), VISITS.length);
  assert.equal(Number(shop.clicks), totalClicks);

  for (const device of ["desktop", "tablet", "mobile"]) {
    const res = await heatmap({ kind: "HEATMAP_KIND_CLICK", deviceType: DEVICE_TYPE[device] });
    const want = Object.fromEntries(Object.entries(expected(device)).map(([id, n]) => [SELECTOR[id], n]));
    assert.deepEqual(byElement(res), want, `${device}: clicks per element`);
    assert.equal(Number(res.sessions), VISITS.filter((v) => v.device === device).length, `${device}: sessions`);
    // Every class's sessions, whichever was asked: the device switch's figures.
    assert.deepEqual(
      (res.deviceSessions ?? []).map((d) => [d.deviceType, Number(d.sessions)]),
      ["desktop", "tablet", "mobile"].map((d) => [DEVICE_TYPE[d], VISITS.filter((v) => v.device === d).length]),
      `${device}: sessions per device class`,
    );
    assert.ok(res.snapshot?.sessionId, `${device}: a snapshot to draw over`);
    const widths = VISITS.filter((v) => v.device === device).map((v) => v.width);
    assert.ok(widths.includes(res.snapshot.viewportWidth), `${device}: the snapshot is one of its visits (${res.snapshot.viewportWidth} in ${widths})`);
    for (const c of res.clicks ?? []) assert.ok(c.rx >= 0 && c.rx <= 100 && c.ry >= 0 && c.ry <= 100, JSON.stringify(c));
  }
  // The recorded places in the box: 1280's two clicks on Buy at 20 % / 50 % and 80 % / 30 %.
  const desktopBuy = (await heatmap({ kind: "HEATMAP_KIND_CLICK", deviceType: "DEVICE_TYPE_DESKTOP" })).clicks.filter((c) => c.selector === SELECTOR.buy);
  for (const [fx, fy] of [[0.2, 0.5], [0.8, 0.3], [0.5, 0.5]]) {
    assert.ok(desktopBuy.some((c) => Math.abs(c.rx - fx * 100) <= 2 && Math.abs(c.ry - fy * 100) <= 2), `a desktop click on Buy at ${fx * 100} % / ${fy * 100} %: ${JSON.stringify(desktopBuy)}`);
  }

  // Dead clicks: Pricing does nothing (three visits clicked it); Buy and Sign up change the page.
  const deadMap = await heatmap({ kind: "HEATMAP_KIND_DEAD" });
  const dead = byElement(deadMap);
  assert.equal(dead[SELECTOR.pricing], 3, `dead clicks: ${JSON.stringify(dead)}`);
  assert.equal(dead[SELECTOR.buy], undefined, `dead clicks: ${JSON.stringify(dead)}`);
  // Every click map counts the rage and dead clicks beside its own (nobody rage-clicked); move and scroll maps do not.
  for (const kind of ["HEATMAP_KIND_CLICK", "HEATMAP_KIND_RAGE", "HEATMAP_KIND_DEAD"]) {
    const res = kind === "HEATMAP_KIND_DEAD" ? deadMap : await heatmap({ kind });
    assert.deepEqual([Number(res.deadClicks ?? 0), Number(res.rageClicks ?? 0)], [Number(deadMap.total), 0], `${kind}: dead and rage clicks`);
  }
  // The click map's elements carry theirs: Pricing's three dead clicks.
  const frustrationOf = Object.fromEntries(((await heatmap({ kind: "HEATMAP_KIND_CLICK" })).elements ?? []).map((e) => [e.selector, [Number(e.rageClicks ?? 0), Number(e.deadClicks ?? 0)]]));
  assert.deepEqual(frustrationOf[SELECTOR.pricing], [0, 3], JSON.stringify(frustrationOf));
  assert.deepEqual(frustrationOf[SELECTOR.buy], [0, 0], JSON.stringify(frustrationOf));
  for (const kind of ["HEATMAP_KIND_MOVE", "HEATMAP_KIND_SCROLL"]) {
    const res = await heatmap({ kind });
    assert.equal(res.deadClicks ?? "0", "0", `${kind}: no dead clicks answered`);
  }
  // The sessions search knows which element each session dead-clicked.
  const deadOn = async (sel) => {
    const r = await call("POST", `/api/v1/sites/${siteId}/sessions:search`, { filter: { deadClickedElement: sel } });
    assert.equal(r.status, 200, r.text);
    return (r.json().sessions ?? []).length;
  };
  await waitFor(async () => (await deadOn(SELECTOR.pricing)) === 3, "3 sessions that dead-clicked Pricing", 30_000);
  assert.equal(await deadOn(SELECTOR.buy), 0, "nobody dead-clicked Buy");

  // Scroll: the two desktop visits went to the bottom and nowhere; mobile to the bottom.
  const ds = (await heatmap({ kind: "HEATMAP_KIND_SCROLL", deviceType: "DEVICE_TYPE_DESKTOP" })).scroll;
  assert.equal(Number(ds.pageViews), 2);
  assert.equal(ds.reached.length, 101);
  assert.equal(ds.reached[0], 1);
  assert.equal(ds.reached[100], 0.5, `desktop reach: ${JSON.stringify(ds)}`);
  assert.equal(ds.averageFold, 800);
  const ms = (await heatmap({ kind: "HEATMAP_KIND_SCROLL", deviceType: "DEVICE_TYPE_MOBILE" })).scroll;
  assert.equal(ms.reached[100], 1, `mobile reach: ${JSON.stringify(ms)}`);
  assert.equal(ms.halfDepth, 100);

  const moves = await heatmap({ kind: "HEATMAP_KIND_MOVE", deviceType: "DEVICE_TYPE_DESKTOP" });
  assert.ok((moves.cells ?? []).length > 0 && Number(moves.total) > 0, `desktop pointer moves: ${JSON.stringify(moves).slice(0, 300)}`);
});

/** openMap opens the Heatmaps page and answers the drawn map (sl-heatmap-drawn's detail, in plain numbers). */
async function openMap(page, query) {
  await page.evaluate(() => (window.__drawn = undefined));
  await page.goto(`${sl.base}/o/${orgId}/sites/${siteId}/heatmaps?${new URLSearchParams({ page: pageKey, ...query })}`);
  return drawn(page);
}

async function drawn(page) {
  await page.locator("[data-testid=heat-stage][data-state=drawn]").waitFor({ timeout: 60_000 });
  return waitFor(() => page.evaluate(() => window.__drawn), "the map's drawn event", 10_000);
}

/** boxes answers the document boxes of the fixture's elements in the rebuilt page, found by their ids. */
function boxes(page) {
  return page.evaluate(() => {
    const doc = document.querySelector("[data-testid=heat-stage] iframe").contentDocument;
    const out = {};
    for (const id of ["buy", "pricing", "cta", "home"]) {
      const r = doc.getElementById(id).getBoundingClientRect();
      out[id] = { left: r.left + doc.defaultView.scrollX, top: r.top + doc.defaultView.scrollY, width: r.width, height: r.height };
    }
    return { boxes: out, width: doc.defaultView.innerWidth };
  });
}

/** seriousViolations runs axe-core on the dashboard (not the rebuilt page) and answers its serious and critical findings. */
async function seriousViolations(page) {
  await page.addScriptTag({ path: axePath });
  return page.evaluate(() =>
    window.axe.run({ exclude: [[".heat-frame"]] }, { iframes: false }).then((r) =>
      r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`),
    ),
  );
}

const inside = (b, x, y) => x >= b.left - 0.5 && x <= b.left + b.width + 0.5 && y >= b.top - 0.5 && y <= b.top + b.height + 0.5;

test("the Heatmaps page draws each click inside its element at another width, and a hot spot opens who clicked there", { timeout: 240_000 }, async (t) => {
  const page = await ctx.newPage();
  t.after(() => page.close());
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.addInitScript(() => {
    document.addEventListener("sl-heatmap-drawn", (e) => {
      const d = e.detail;
      const points = [];
      for (let i = 0; i < Math.min(d.n, 5000); i++) points.push([d.xyw[i * 3], d.xyw[i * 3 + 1], d.xyw[i * 3 + 2], d.selectors[i] ?? ""]);
      window.__drawn = { kind: d.kind, n: d.n, width: d.width, height: d.height, unplaced: d.unplaced, fallback: d.fallback, ms: d.ms, points };
    });
  });

  // Every device on one page: clicks made at 1440, 820 and 390 px drawn at the snapshot's width.
  const map = await openMap(page, { device: "all" });
  const { boxes: b, width } = await boxes(page);
  // The device switch says how many sessions each class has on these pages and dates.
  const deviceLabels = { desktop: "Desktop", tablet: "Tablet", mobile: "Mobile", all: "All devices" };
  for (const [d, label] of Object.entries(deviceLabels)) {
    const n = VISITS.filter((v) => d === "all" || v.device === d).length;
    assert.equal((await page.getByTestId(`heat-device-${d}`).locator(".pill-count").textContent()).trim(), String(n), `${d}: sessions on the switch`);
    // Read out as "Desktop 2", not "Desktop2".
    assert.equal(await page.getByRole("button", { name: `${label} ${n}`, exact: true }).count(), 1, `${d}: the pill's accessible name`);
  }
  await page.locator(".heat-controls").screenshot({ path: path.join(shots, "controls.png") });
  const madeElsewhere = VISITS.filter((v) => v.width !== width).flatMap((v) => v.clicks).length;
  t.diagnostic(`click map drawn at ${width} px (${map.width} × ${map.height}), ${map.n} spots in ${map.ms.toFixed(0)} ms; ${madeElsewhere} clicks were made at other widths`);
  assert.ok(madeElsewhere >= 5, "most clicks were made at another width");
  assert.equal(map.unplaced, 0);
  assert.equal(map.fallback, 0, "every click found its element");
  // The page as it loaded: a visitor's click on Buy soon after the snapshot ("Added …") is not part of it.
  const stock = await page.evaluate(() => document.querySelector("[data-testid=heat-stage] iframe").contentDocument.getElementById("n").textContent);
  assert.equal(stock, "In stock: 12", "the snapshot shows no visitor's interaction");
  const all = expected();
  for (const [id, n] of Object.entries(all)) {
    const mine = map.points.filter((p) => p[3] === SELECTOR[id]);
    assert.ok(mine.length > 0, `${id}: drawn`);
    for (const [x, y] of mine) assert.ok(inside(b[id], x, y), `${id}: (${x.toFixed(1)}, ${y.toFixed(1)}) inside ${JSON.stringify(b[id])}`);
    assert.equal(mine.reduce((s, p) => s + p[2], 0), n, `${id}: ${n} clicks drawn on it`);
  }
  // The ranked list: Buy first with its share; hovering it outlines Buy in the page.
  const first = page.getByTestId("heat-element").first();
  assert.equal(await first.getAttribute("data-selector"), SELECTOR.buy);
  const total = Object.values(all).reduce((a, c) => a + c, 0);
  assert.match(await first.innerText(), new RegExp(`${all.buy}\\s*·\\s*${Math.round((all.buy / total) * 100)} %`));
  // Each listed element is named by what the rebuilt page shows on it (the snapshot's, as it loaded).
  const NAME = { buy: "Buy", pricing: "Pricing", cta: "Sign up for news" };
  await waitFor(async () => (await page.getByTestId("heat-element-name").count()) > 0, "element names from the rebuilt page", 10_000);
  const listed = await page
    .getByTestId("heat-element")
    .evaluateAll((els) => els.map((el) => [el.dataset.selector, el.querySelector("[data-testid=heat-element-name]")?.textContent ?? ""]));
  assert.equal(listed.length, Object.keys(all).length);
  for (const [sel, name] of listed) assert.equal(name, NAME[Object.keys(SELECTOR).find((k) => SELECTOR[k] === sel)], `${sel}: named`);
  // Its accessible name is what it shows (the rank aside); the figures' meaning is its description.
  assert.equal(await page.getByRole("link", { name: /^Buy button#buy \d+ · \d+ %$/ }).getAttribute("data-selector"), SELECTOR.buy);
  assert.match(await page.locator(`[id="${await first.getAttribute("aria-describedby")}"]`).textContent(), /^\d+ clicks?, \d+ % of the clicks; opens /);
  await first.hover();
  const hl = await page.getByTestId("heat-highlight").evaluate((el) => ({ left: parseFloat(el.style.left), top: parseFloat(el.style.top), width: parseFloat(el.style.width) }));
  assert.ok(Math.abs(hl.left - b.buy.left) < 1 && Math.abs(hl.top - b.buy.top) < 1 && Math.abs(hl.width - b.buy.width) < 1, `highlight ${JSON.stringify(hl)} on Buy ${JSON.stringify(b.buy)}`);
  await page.mouse.move(0, 0);
  await page.getByTestId("heat-stage").screenshot({ path: path.join(shots, "click-map-all.png") });
  // The list says which element visitors dead-clicked: Pricing only.
  const frustrated = await page
    .getByTestId("heat-element")
    .evaluateAll((els) => els.map((el) => [el.dataset.selector, el.querySelector("[data-testid=heat-element-frustration]")?.textContent ?? ""]).filter(([, f]) => f));
  assert.deepEqual(frustrated, [[SELECTOR.pricing, "3 dead clicks"]]);
  const pricing = page.locator(`[data-testid=heat-element][data-selector="${SELECTOR.pricing}"]`);
  const description = await page.locator(`[id="${await pricing.getAttribute("aria-describedby")}"]`).textContent();
  assert.match(description, /^\d+ clicks?, \d+ % of the clicks, 3 dead clicks; opens /, description);
  // Beside the clicks, the map counts the rage and dead clicks; each count opens its map.
  assert.equal(await page.getByTestId("heat-rage-count").innerText(), "0");
  assert.equal(await page.getByTestId("heat-dead-count").innerText(), "3");
  assert.equal(await page.getByTestId("heat-dead-count").getAttribute("aria-label"), "3 dead clicks: show their map");
  await page.getByTestId("heat-dead-count").click();
  await page.waitForURL(/map=dead/);
  await waitFor(async () => (await page.getByTestId("heat-total").innerText()) === "3", "the dead map's total", 10_000);
  assert.equal(await page.getByTestId("heat-dead-count").count(), 0, "the dead map shows its count once, as its total");
  assert.equal(await page.getByTestId("heat-rage-count").innerText(), "0");
  assert.equal(await page.getByTestId("heat-element-frustration").count(), 0, "the dead map's list counts dead clicks already");
  await page.goBack();
  await page.waitForURL((u) => !/map=dead/.test(u.search));

  // Desktop only: the snapshot is one desktop width; the other desktop visit's clicks still land on their elements.
  const desk = await openMap(page, { device: "desktop" });
  const d = await boxes(page);
  for (const [x, y, , sel] of desk.points) {
    const id = Object.keys(SELECTOR).find((k) => SELECTOR[k] === sel);
    assert.ok(id && inside(d.boxes[id], x, y), `desktop: ${sel} at (${x}, ${y})`);
  }
  assert.match(await page.getByTestId("heat-sessions").innerText(), /^2$/);
  assert.match(await page.getByTestId("heat-views").innerText(), /^2$/);
  assert.match(await page.getByTestId("heat-days").innerText(), /^\d{4}-\d\d-\d\d – \d{4}-\d\d-\d\d$/);
  await page.getByTestId("heat-stage").screenshot({ path: path.join(shots, "click-map-desktop.png") });

  // Drawn over another recording: the other desktop visit's page, at its own width, the same clicks on their elements.
  const newest = await page.getByTestId("heat-snapshot").getAttribute("data-session");
  const otherWidth = VISITS.find((v) => v.device === "desktop" && v.width !== d.width).width;
  await page.getByTestId("heat-pick-open").click();
  const picks = page.getByTestId("heat-pick");
  await waitFor(async () => (await picks.count()) === 2, "the two desktop recordings offered to draw over", 30_000);
  assert.equal(await page.locator(`[data-testid=heat-pick][data-session="${newest}"]`).getAttribute("aria-pressed"), "true", "the recording drawn now is marked");
  assert.match(await picks.first().innerText(), / px wide · Desktop · /);
  await page.getByTestId("heat-snap-picker").screenshot({ path: path.join(shots, "snapshot-picker.png") });
  const other = await picks.evaluateAll((els, cur) => els.map((e) => e.dataset.session).find((id) => id !== cur), newest);
  await page.evaluate(() => (window.__drawn = undefined));
  await page.locator(`[data-testid=heat-pick][data-session="${other}"]`).click();
  await page.waitForURL((u) => u.searchParams.get("snap") === other);
  const over = await drawn(page);
  const o = await boxes(page);
  assert.equal(o.width, otherWidth, `rebuilt at the chosen visit's width (${otherWidth} px), not the newest's (${d.width} px)`);
  assert.equal(await page.getByTestId("heat-snapshot").getAttribute("data-session"), other);
  assert.match(await page.getByTestId("heat-snapshot").innerText(), new RegExp(`^Drawn over the recording you chose of .* at ${otherWidth} px wide`));
  assert.equal(over.n, desk.n, "the same map over the other page");
  for (const [x, y, , sel] of over.points) {
    const id = Object.keys(SELECTOR).find((k) => SELECTOR[k] === sel);
    assert.ok(id && inside(o.boxes[id], x, y), `over the chosen recording: ${sel} at (${x}, ${y}) inside ${JSON.stringify(o.boxes[id])}`);
  }
  const chosenApi = await call("GET", `/api/v1/sites/${siteId}/heatmap/snapshot?${new URLSearchParams({ sessionId: other, "page.operator": "OPERATOR_EQUALS", "page.value": pageKey })}`);
  assert.equal(chosenApi.status, 200, chosenApi.text);
  const chosenSnap = await chosenApi.json();
  assert.equal(chosenSnap.snapshot.sessionId, other);
  assert.equal(chosenSnap.snapshot.viewportWidth, otherWidth);
  assert.equal(chosenSnap.deviceType, "DEVICE_TYPE_DESKTOP");
  await page.getByTestId("heat-stage").screenshot({ path: path.join(shots, "click-map-chosen-recording.png") });
  // The choice stays with the URL (a reload) and goes with "Back to the newest".
  await page.evaluate(() => (window.__drawn = undefined));
  await page.reload();
  await drawn(page);
  assert.equal((await boxes(page)).width, otherWidth, "a reload keeps the chosen recording");
  await page.evaluate(() => (window.__drawn = undefined));
  await page.getByTestId("heat-pick-newest").click();
  await page.waitForURL((u) => !u.searchParams.has("snap"));
  await drawn(page);
  assert.equal(await page.getByTestId("heat-snapshot").getAttribute("data-session"), newest);
  assert.equal((await boxes(page)).width, d.width, "back over the newest recording");
  // A link naming a recording that is gone (deleted, or never of this site) says so and draws over the newest.
  await page.evaluate(() => (window.__drawn = undefined));
  await page.goto(`${page.url()}&snap=s_gonerecording0001`);
  await page.getByTestId("heat-chosen-gone").waitFor();
  await drawn(page);
  assert.equal((await boxes(page)).width, d.width, "a recording that is gone: drawn over the newest");
  await page.getByTestId("heat-chosen-gone").getByRole("button", { name: "Forget that choice" }).click();
  await page.waitForURL((u) => !u.searchParams.has("snap"));
  await page.getByTestId("heat-snapshot").waitFor();

  // The move map and the scroll map, from the controls (state in the URL; back returns).
  await page.evaluate(() => (window.__drawn = undefined));
  await page.getByTestId("heat-map-move").click();
  await page.waitForURL(/map=move/);
  const moves = await drawn(page);
  assert.equal(moves.kind, "move");
  assert.ok(moves.n > 0, "pointer cells drawn");
  // Its figure is the pointer time the API's weight stands for (50 ms units), as a duration.
  const moveTotal = Number((await heatmap({ kind: "HEATMAP_KIND_MOVE", deviceType: "DEVICE_TYPE_DESKTOP" })).total);
  const shownTime = /^(?:(\d+)m )?(\d+)s$/.exec(await page.getByTestId("heat-total").innerText());
  assert.ok(shownTime, `pointer time as a duration: ${await page.getByTestId("heat-total").innerText()}`);
  assert.equal(Number(shownTime[1] ?? 0) * 60 + Number(shownTime[2]), Math.round((moveTotal * 50) / 1000), `pointer time of ${moveTotal} units`);
  await page.getByTestId("heat-stage").screenshot({ path: path.join(shots, "move-map-desktop.png") });
  await page.evaluate(() => (window.__drawn = undefined));
  await page.getByTestId("heat-map-scroll").click();
  await page.getByTestId("heat-scrollmap").waitFor();
  await drawn(page);
  assert.equal(await page.getByTestId("heat-fold").innerText(), "800 px");
  const rows = await page.locator("[data-testid=heat-scroll-table] tbody tr").allInnerTexts();
  assert.equal(rows.length, 11);
  assert.match(rows[0], /0 %\s+100 %/);
  assert.match(rows[10], /100 %\s+50 %/);
  await page.getByTestId("heat-stage").screenshot({ path: path.join(shots, "scroll-map-desktop-top.png") });
  // The lines' labels keep a readable size on screen and stay inside the page (half reach 100 % is its bottom edge).
  await page.getByTestId("heat-half-line").scrollIntoViewIfNeeded();
  const labels = await page.evaluate(() => {
    const sizer = document.querySelector(".heat-sizer").getBoundingClientRect();
    return [...document.querySelectorAll(".heat-line span")].map((el) => {
      const r = el.getBoundingClientRect();
      return { text: el.textContent, height: r.height, top: r.top - sizer.top, bottom: sizer.bottom - r.bottom };
    });
  });
  for (const l of labels) assert.ok(l.height >= 15 && l.top >= 0 && l.bottom >= 0, `label ${JSON.stringify(l)} readable and inside the page`);
  await page.getByTestId("heat-stage").screenshot({ path: path.join(shots, "scroll-map-desktop-bottom.png") });
  // The scroll map's figures and table pass axe, light and dark (the rebuilt page is the visited site's markup).
  // axe is injected inline, which the dashboard's CSP refuses: a context that bypasses it, signed in as the same user.
  const axeCtx = await browser.newContext({ viewport: { width: 1400, height: 900 }, bypassCSP: true, storageState: await ctx.storageState() });
  t.after(() => axeCtx.close());
  const ap = await axeCtx.newPage();
  for (const scheme of ["light", "dark"]) {
    await ap.emulateMedia({ colorScheme: scheme });
    await ap.goto(page.url());
    await ap.locator("[data-testid=heat-stage][data-state=drawn]").waitFor({ timeout: 60_000 });
    await ap.getByTestId("heat-scroll-table").waitFor();
    const bad = await seriousViolations(ap);
    assert.deepEqual(bad, [], `scroll map (${scheme}) axe violations:\n${bad.join("\n")}`);
    await ap.screenshot({ path: path.join(shots, `scroll-map-page-${scheme}.png`), fullPage: true });
  }
  await page.goBack();
  await page.waitForURL(/map=move/);
  assert.equal(await page.getByTestId("heat-map-move").getAttribute("aria-pressed"), "true");

  // Mobile: its own snapshot at 390 px, one column.
  const mob = await openMap(page, { device: "mobile" });
  assert.equal(mob.width, 390);
  await page.getByTestId("heat-stage").screenshot({ path: path.join(shots, "click-map-mobile.png") });

  // On a 375 px phone the page stacks and the map scales to the screen: nothing sticks out sideways.
  const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, storageState: await ctx.storageState() });
  const pp = await phone.newPage();
  await pp.goto(page.url());
  await pp.locator("[data-testid=heat-stage][data-state=drawn]").waitFor({ timeout: 60_000 });
  const overflow = await pp.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await pp.screenshot({ path: path.join(shots, "phone-click-map.png"), fullPage: true });
  await phone.close();
  assert.ok(overflow <= 1, `the heatmaps page is ${overflow} px wider than a phone`);

  // A hot spot: click on Pricing in the drawn map → the recordings that visited the page and clicked it.
  await openMap(page, { device: "all" });
  const { boxes: ab } = await boxes(page);
  const scale = Number(await page.getByTestId("heat-stage").getAttribute("data-scale"));
  const hit = page.getByTestId("heat-hit");
  await hit.scrollIntoViewIfNeeded();
  // Where nobody clicked (the header's empty right end), the map says so and stays.
  const here = page.url();
  const mapWidth = Number(await page.getByTestId("heat-stage").getAttribute("data-width"));
  // Hovering a spot shows it can be clicked; hovering where nobody clicked does not.
  const pricingAt = { x: (ab.pricing.left + ab.pricing.width / 2) * scale, y: (ab.pricing.top + ab.pricing.height / 2) * scale };
  await hit.hover({ position: pricingAt });
  await waitFor(async () => /heat-hit-hot/.test(await hit.getAttribute("class")), "the spot under the pointer to show as clickable", 5_000);
  // Its card names it and counts its clicks, as the list does; its element is outlined.
  const card = page.getByTestId("heat-card");
  assert.match(await card.innerText(), /^Pricing\n/);
  assert.equal(await page.getByTestId("heat-card-count").innerText(), `${all.pricing} clicks · ${Math.round((all.pricing / total) * 100)} %`);
  assert.equal(await page.getByTestId("heat-card-frustration").innerText(), "3 dead clicks");
  const outline = await page.getByTestId("heat-highlight").evaluate((el) => ({ left: parseFloat(el.style.left), width: parseFloat(el.style.width) }));
  assert.ok(Math.abs(outline.left - ab.pricing.left) < 1 && Math.abs(outline.width - ab.pricing.width) < 1, `hover outline ${JSON.stringify(outline)} on Pricing`);
  await page.screenshot({ path: path.join(shots, "hover-card.png") });
  // The map scrolled under the still pointer (the wheel): the card follows what is under it now.
  const scroller = page.locator(".heat-scroller");
  const top0 = await scroller.evaluate((el) => el.scrollTop);
  assert.ok(await scroller.evaluate((el) => el.scrollHeight - el.clientHeight - el.scrollTop >= 100), "the map can scroll 100 px");
  await scroller.evaluate((el) => (el.scrollTop += 100));
  await waitFor(async () => (await card.count()) === 0, "no card once the spot scrolled away from the pointer", 5_000);
  await scroller.evaluate((el, top) => (el.scrollTop = top), top0);
  await waitFor(async () => (await card.count()) === 1 && /^Pricing\n/.test(await card.innerText()), "Pricing's card again once it is back under the pointer", 5_000);
  await hit.hover({ position: { x: (mapWidth - 60) * scale, y: pricingAt.y } });
  await waitFor(async () => !/heat-hit-hot/.test(await hit.getAttribute("class")), "no clickable spot where nobody clicked", 5_000);
  assert.equal(await card.count(), 0, "no card where nobody clicked");
  await hit.click({ position: { x: (mapWidth - 60) * scale, y: (ab.pricing.top + ab.pricing.height / 2) * scale } });
  await page.getByTestId("heat-miss").waitFor();
  assert.equal(page.url(), here, "a click where nobody clicked goes nowhere");
  await hit.click({ position: { x: (ab.pricing.left + ab.pricing.width / 2) * scale, y: (ab.pricing.top + ab.pricing.height / 2) * scale } });
  await page.waitForURL(/\/recordings\?/);
  const params = new URL(page.url()).searchParams;
  assert.equal(params.get("clicked"), SELECTOR.pricing);
  assert.equal(params.get("visited"), `equals:${pageKey}`);
  const clickedPricing = VISITS.filter((v) => v.clicks.some(([id]) => id === "pricing")).length;
  await waitFor(async () => (await page.getByTestId("recording-row").count()) === clickedPricing, `${clickedPricing} recordings that clicked Pricing`, 30_000);
  assert.equal(await page.getByTestId("filter-clicked").inputValue(), SELECTOR.pricing);
  await page.screenshot({ path: path.join(shots, "hot-spot-recordings.png") });

  // The dead map's links open the recordings that dead-clicked that element.
  await openMap(page, { device: "all", map: "dead" });
  const deadLink = page.getByTestId("heat-element").first();
  const deadParams = new URL(await deadLink.getAttribute("href"), sl.base).searchParams;
  assert.equal(deadParams.get("dead_on"), SELECTOR.pricing);
  assert.equal(deadParams.get("clicked"), null);
  assert.equal(await page.getByTestId("heat-elements-opens").innerText(), "Each opens the recordings that dead-clicked it.");
  await deadLink.click();
  await page.waitForURL(/dead_on=/);
  await waitFor(async () => (await page.getByTestId("recording-row").count()) === 3, "the 3 recordings that dead-clicked Pricing", 30_000);
  assert.equal(await page.getByTestId("filter-dead-on").inputValue(), SELECTOR.pricing);
  assert.ok(await page.getByTestId("filter-dead-on").isVisible(), "the condition the link set is shown, its filter group open");
  // Above the list, chips say what the link set; each is removed by itself.
  const chipNames = await page.getByTestId("filter-chip").evaluateAll((els) => els.map((e) => e.getAttribute("data-filter")));
  assert.deepEqual(chipNames.sort(), ["deadClickedElement", "visitedPage"], "one chip per condition the link set");
  const deadChip = page.locator('[data-testid="filter-chip"][data-filter="deadClickedElement"]');
  assert.equal((await deadChip.innerText()).replace(/\s+/g, " ").trim(), `Dead-clicked ${SELECTOR.pricing} ×`);
  await page.screenshot({ path: path.join(shots, "dead-spot-recordings.png") });
  await deadChip.getByRole("button", { name: `Remove filter: Dead-clicked ${SELECTOR.pricing}` }).click();
  await page.waitForURL((u) => !u.searchParams.has("dead_on") && u.searchParams.has("visited"));
  await waitFor(async () => (await page.getByTestId("recording-row").count()) === VISITS.length, `all ${VISITS.length} recordings of the page`, 30_000);
  assert.equal(await page.getByTestId("filter-dead-on").inputValue(), "", "the panel's input is cleared with the chip");
  assert.deepEqual(await page.getByTestId("filter-chip").evaluateAll((els) => els.map((e) => e.getAttribute("data-filter"))), ["visitedPage"]);
  assert.deepEqual(errors, [], "no uncaught errors in the dashboard");
});

test("rules keep their operator, readable URLs match, bad date ranges are caught before asking", { timeout: 180_000 }, async (t) => {
  const page = await ctx.newPage();
  t.after(() => page.close());
  const base = `${sl.base}/o/${orgId}/sites/${siteId}/heatmaps`;
  const asked = [];
  page.on("request", (r) => r.url().includes("/heatmap?") && asked.push(r.url()));

  // The operator picked before typing is the rule's.
  await page.goto(base);
  await page.getByTestId("heat-rule-op").selectOption("pattern");
  assert.equal(await page.getByTestId("heat-rule-op").inputValue(), "pattern", "Pattern stays picked while the rule is empty");
  await page.getByTestId("heat-rule-value").fill("/sh*");
  await page.getByTestId("heat-rule-value").press("Enter");
  await page.waitForURL(/rule=pattern/);
  await waitFor(async () => (await page.getByTestId("heat-pages").innerText()) === "1", "the pattern to match the shop page", 30_000);

  // An exact URL nobody visited: no page matches, said as such.
  await page.goto(`${base}?${new URLSearchParams({ page: `${fixtureOrigin}/nowhere` })}`);
  await page.getByTestId("heat-no-page").waitFor();
  assert.equal(await page.getByTestId("heat-pages").innerText(), "0");

  // A rule too long for a link is said to be ignored.
  await page.goto(`${base}?${new URLSearchParams({ page: `${fixtureOrigin}/${"x".repeat(2100)}` })}`);
  await page.getByTestId("heat-rule-dropped").waitFor();

  // Dates that do not exist: the default range, shown as such.
  asked.length = 0;
  for (const bad of ["2026-02-31", "9999-99-99", "0001-01-01"]) {
    await page.goto(`${base}?${new URLSearchParams({ page: pageKey, range: "custom", from: bad, to: bad })}`);
    await page.getByTestId("heat-sessions").waitFor();
    assert.equal(await page.getByTestId("heat-range").inputValue(), "30d", `${bad}: the default range`);
  }
  // From after To: read the other way round, and said.
  const today = new Date().toISOString().slice(0, 10);
  const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000).toISOString().slice(0, 10);
  await page.goto(`${base}?${new URLSearchParams({ page: pageKey, range: "custom", from: today, to: tenDaysAgo })}`);
  await page.getByTestId("heat-sessions").waitFor();
  assert.match(await page.getByTestId("heat-range-note").innerText(), /From is after To/);
  // Longer than 400 days: said with the limit, and nothing asked.
  asked.length = 0;
  await page.goto(`${base}?${new URLSearchParams({ page: pageKey, range: "custom", from: "2019-01-01", to: today })}`);
  await page.getByTestId("heat-range-too-long").waitFor();
  assert.match(await page.getByTestId("heat-range-note").innerText(), /at most 400 days/);
  assert.deepEqual(asked, [], "no map asked for an over-long range");

  // A page with a non-ASCII path: listed readable, found by readable search and rules.
  const vctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, userAgent: UA.desktop });
  const vp = await vctx.newPage();
  for (const p of ["/café/menü", LONG_PATH]) {
    await vp.goto(`${fixtureOrigin}${p}`);
    await waitFor(() => vp.evaluate(() => typeof window.sightline === "function"), "the tracker to load", 15_000);
    await vp.waitForTimeout(1000);
  }
  await vp.close();
  await vctx.close();
  await page.goto(base);
  // A long URL in the page list keeps its end (the part that tells pages apart) and loses its middle.
  const long = page.getByTestId("heat-page").filter({ hasText: "glass-teapot-with-infuser" });
  await long.waitFor({ timeout: 60_000 });
  await page.getByTestId("heat-picker").screenshot({ path: path.join(shots, "page-picker.png") });
  const tail = await long.locator(".path-tail").evaluate((el) => ({ text: el.textContent, cut: el.scrollWidth > el.clientWidth }));
  assert.deepEqual(tail, { text: "/glass-teapot-with-infuser", cut: false });
  assert.ok(await long.locator(".path-head").evaluate((el) => el.scrollWidth > el.clientWidth), "the long URL's middle is cut");
  await page.getByTestId("heat-page-search").fill("café");
  const cafe = page.getByTestId("heat-page").filter({ hasText: "café/menü" });
  await cafe.waitFor({ timeout: 60_000 });
  await cafe.click();
  await page.waitForURL(/page=/);
  // The rule's input is a draft that follows the URL on the next render: wait for it, then compare.
  const picked = `${fixtureOrigin}/café/menü`;
  await waitFor(async () => (await page.getByTestId("heat-rule-value").inputValue()) === picked, "the picked page in the rule's input", 10_000).catch(() => {});
  assert.equal(await page.getByTestId("heat-rule-value").inputValue(), picked);
  await waitFor(async () => (await page.getByTestId("heat-pages").innerText()) === "1", "the readable exact URL to match", 30_000);
  await page.goto(`${base}?${new URLSearchParams({ page: "café", rule: "contains" })}`);
  await waitFor(async () => (await page.getByTestId("heat-pages").innerText()) === "1", "a readable contains rule to match", 30_000);
});

test("a 100,000-cell map is drawn while the page keeps painting", { timeout: 120_000 }, async (t) => {
  const page = await ctx.newPage();
  t.after(() => page.close());
  // The aggregate is replaced in the browser by 100,000 move cells over a 6,000 px page.
  // Pointer-like clusters: a fixed pseudo-random walk (the same map every run).
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const cells = [];
  let cx = 500, cy = 300;
  for (let i = 0; i < 100_000; i++) {
    if (i % 500 === 0) [cx, cy] = [50 + rnd() * 900, 50 + rnd() * 5900];
    cells.push({ x: Math.round(Math.min(1000, Math.max(0, cx + (rnd() - 0.5) * 120))), y: Math.round(Math.max(0, cy + (rnd() - 0.5) * 300)), count: String(1 + Math.floor(rnd() * 20)) });
  }
  const body = JSON.stringify({ cells, sessions: "1000", total: "1000000", pages: 1, scroll: { averageHeight: 6000, reached: [], pageViews: "1000" } });
  await page.route(/\/api\/v1\/sites\/[^/]+\/heatmap\?.*HEATMAP_KIND_MOVE/, (route) => route.fulfill({ status: 200, contentType: "application/json", body }));
  await page.addInitScript(() => {
    document.addEventListener("sl-heatmap-drawn", (e) => (window.__drawn = { n: e.detail.n, ms: e.detail.ms }));
    // The longest gap between painted frames while the map is read and drawn.
    window.__gap = 0;
    let last = 0;
    const tick = (now) => {
      if (last && window.__measure) window.__gap = Math.max(window.__gap, now - last);
      last = now;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    window.__long = [];
    new PerformanceObserver((l) => window.__measure && window.__long.push(...l.getEntries().map((e) => Math.round(e.duration)))).observe({ type: "longtask" });
  });
  await page.goto(`${sl.base}/o/${orgId}/sites/${siteId}/heatmaps?${new URLSearchParams({ page: `${pageKey}-none`, device: "desktop", map: "scroll" })}`);
  await page.locator("[data-testid=heat-stage][data-state=drawn]").waitFor({ timeout: 60_000 });
  await page.evaluate(() => ((window.__drawn = undefined), (window.__measure = true), (window.__gap = 0)));
  const t0 = Date.now();
  await page.getByTestId("heat-map-move").click();
  const d = await waitFor(() => page.evaluate(() => window.__drawn), "the 100k map to be drawn", 60_000);
  const { gap, long } = await page.evaluate(() => ((window.__measure = false), { gap: window.__gap, long: window.__long }));
  t.diagnostic(`100,000 cells: drawn in ${d.ms.toFixed(0)} ms in the worker, ${Date.now() - t0} ms from the click; longest frame gap ${gap.toFixed(0)} ms; main-thread long tasks (ms): ${long.join(", ") || "none"}`);
  assert.equal(d.n, 100_000);
  assert.ok(gap < 200, `the page kept painting: longest gap between frames ${gap.toFixed(0)} ms`);
  await page.getByTestId("heat-no-snapshot").waitFor();
  await page.getByTestId("heat-stage").screenshot({ path: path.join(shots, "move-map-100k.png") });
});

test("a single-page app's route is drawn over its own page: the load's snapshot replayed to the route change", { timeout: 180_000 }, async (t) => {
  // An app whose /app/checkout exists only by a route change (pushState): no
  // full snapshot is ever taken of it.
  const { origin, server } = await serveHtml(
    () => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Teapot app</title><script async src="${sl.base}/s/${siteKey}.js"></script>
<style>body { margin: 0; font: 16px sans-serif; } main { padding: 24px; } #go { display: inline-block; padding: 16px 32px; background: #3949ab; color: #fff; }
#pay { display: block; margin-top: 200px; width: 320px; height: 80px; font-size: 20px; background: #2e7d32; color: #fff; border: 0; }</style></head>
<body><main id="view"><h1>Teapots</h1><p>Our range.</p><a href="/app/checkout" id="go">Go to checkout</a></main>
<script>
document.getElementById("go").addEventListener("click", (e) => {
  e.preventDefault();
  history.pushState({}, "", "/app/checkout");
  document.getElementById("view").innerHTML = '<h1 id="checkout">Checkout</h1><p>One glass teapot.</p><button id="pay" onclick="this.textContent=\\'Paid\\'">Pay now</button>';
});
</script></body></html>`,
  );
  t.after(() => server.close());
  const routeKey = `${origin}/app/checkout`;
  const vctx = await browser.newContext({ viewport: { width: 1100, height: 800 }, userAgent: UA.desktop });
  const vp = await vctx.newPage();
  await vp.goto(`${origin}/app`);
  await waitFor(() => vp.evaluate(() => typeof window.sightline === "function"), "the tracker to load", 15_000);
  await vp.waitForTimeout(1500);
  await vp.locator("#go").click();
  await vp.waitForTimeout(1500);
  const pay = await vp.locator("#pay").boundingBox();
  await vp.mouse.click(pay.x + 0.25 * pay.width, pay.y + 0.75 * pay.height);
  await vp.waitForTimeout(1000);
  await vp.close(); // page hide flushes the last batch
  await vctx.close();

  const routeMap = async () => {
    const p = new URLSearchParams({ "page.operator": "OPERATOR_EQUALS", "page.value": routeKey, kind: "HEATMAP_KIND_CLICK", deviceType: "DEVICE_TYPE_DESKTOP" });
    const r = await call("GET", `/api/v1/sites/${siteId}/heatmap?${p}`);
    assert.equal(r.status, 200, r.text);
    return r.json();
  };
  await waitFor(async () => Number((await routeMap()).total ?? 0) === 1, "the click on the route to be counted", 60_000);
  const res = await routeMap();
  const paySel = (res.elements ?? []).map((e) => e.selector).find((s) => s.includes("#pay"));
  assert.ok(paySel, `the click is on Pay: ${JSON.stringify(res.elements)}`);
  // The route has a snapshot to draw over: the session, at the route change's time, the route's URL.
  assert.ok(res.snapshot?.sessionId, `a snapshot for the route: ${JSON.stringify(res.snapshot)}`);
  assert.equal(res.snapshot.url, routeKey);
  assert.equal(res.snapshot.viewportWidth, 1100);

  const page = await ctx.newPage();
  t.after(() => page.close());
  await page.addInitScript(() => {
    document.addEventListener("sl-heatmap-drawn", (e) => {
      const d = e.detail;
      window.__drawn = { n: d.n, width: d.width, fallback: d.fallback, unplaced: d.unplaced, points: [[d.xyw[0], d.xyw[1], d.xyw[2], d.selectors[0] ?? ""]] };
    });
  });
  await page.goto(`${sl.base}/o/${orgId}/sites/${siteId}/heatmaps?${new URLSearchParams({ page: routeKey, device: "desktop" })}`);
  const map = await drawn(page);
  // The rebuilt page is the route's (the checkout the app rendered), as it was before the visitor paid.
  const rebuilt = await page.evaluate(() => {
    const doc = document.querySelector("[data-testid=heat-stage] iframe").contentDocument;
    const p = doc.getElementById("pay");
    const r = p?.getBoundingClientRect();
    return { heading: doc.querySelector("h1")?.textContent, pay: p?.textContent, go: !!doc.getElementById("go"), box: r && { left: r.left + doc.defaultView.scrollX, top: r.top + doc.defaultView.scrollY, width: r.width, height: r.height }, width: doc.defaultView.innerWidth };
  });
  t.diagnostic(`route map: ${JSON.stringify(map)}; rebuilt ${JSON.stringify(rebuilt)}`);
  assert.deepEqual([rebuilt.heading, rebuilt.pay, rebuilt.go], ["Checkout", "Pay now", false], "the checkout route, before the visitor's click");
  assert.equal(rebuilt.width, 1100);
  assert.equal(map.n, 1);
  assert.equal(map.fallback, 0, "the click found Pay");
  const [x, y, w, sel] = map.points[0];
  assert.equal(sel, paySel);
  assert.equal(w, 1);
  assert.ok(inside(rebuilt.box, x, y), `the click (${x}, ${y}) inside Pay ${JSON.stringify(rebuilt.box)}`);
  assert.ok(Math.abs(x - (rebuilt.box.left + 0.25 * rebuilt.box.width)) <= 4 && Math.abs(y - (rebuilt.box.top + 0.75 * rebuilt.box.height)) <= 2, `at 25 % / 75 % of Pay: (${x}, ${y})`);
  await page.getByTestId("heat-stage").screenshot({ path: path.join(shots, "click-map-spa-route.png") });

  // Chosen by hand ("Draw over another recording"): the session is offered, and its route is
  // answered at the change, as the newest pointer says.
  const sessionId = res.snapshot.sessionId;
  const chosen = await call("GET", `/api/v1/sites/${siteId}/heatmap/snapshot?${new URLSearchParams({ sessionId, "page.operator": "OPERATOR_EQUALS", "page.value": routeKey })}`);
  assert.equal(chosen.status, 200, chosen.text);
  assert.deepEqual(
    (({ url, time, offset, viewportWidth }) => ({ url, time, offset, viewportWidth }))(chosen.json().snapshot),
    (({ url, time, offset, viewportWidth }) => ({ url, time, offset, viewportWidth }))(res.snapshot),
    "the chosen recording's route: the same moment as the map's pointer",
  );
  await page.getByTestId("heat-pick-open").click();
  await page.locator(`[data-testid=heat-pick][data-session="${sessionId}"]`).waitFor({ timeout: 30_000 });
  await page.evaluate(() => (window.__drawn = undefined));
  await page.goto(`${page.url()}&snap=${sessionId}`);
  await drawn(page);
  assert.match(await page.getByTestId("heat-snapshot").innerText(), /^Drawn over the recording you chose/);
  assert.equal(await page.evaluate(() => document.querySelector("[data-testid=heat-stage] iframe").contentDocument.querySelector("h1")?.textContent), "Checkout");
});
