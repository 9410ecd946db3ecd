// Accessibility of every dashboard page (the heatmaps page with its click map; the scroll map is checked in heatmaps.e2e) in Debian's Chromium, against the
// real binary: axe-core finds no serious or critical violation on any page,
// light and dark; every form control has an accessible name; every element
// Tab reaches shows its focus; Tab walks the skip link and the navigation in
// order; the navigation collapses behind a menu button on a 375 px phone;
// only operators see the Operator section. Screenshots of each page in both
// themes go to web/test-results/screenshots/.
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/a11y.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createOperator, createSite, DESKTOP_UA, launchChromium, logIn, serveHtml, signUp, startSightline, waitFor } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const shots = path.resolve(here, "../test-results/screenshots");
const axePath = path.resolve(here, "../node_modules/axe-core/axe.min.js");
const bin = process.env.SIGHTLINE_BIN;
const OPERATOR = { email: "ops@example.com", password: "an operator's long passphrase" };
const SCHEMES = ["light", "dark"];
// What the operator's navigation shows, in order (sections.ts).
const OPERATOR_NAV = ["Overview", "Realtime", "Funnels", "Recordings", "Heatmaps", "Responses", "Surveys", "Site & install", "Feedback widget", "Notifications", "Webhooks", "Sites", "Team", "API keys", "Ingest & limits", "E-mail outbox"];
// Violations in code another change owns, each with its fix; remove the entry with the fix.
const KNOWN = [];
// Rules that say a control has no accessible name: any impact fails.
const NAME_RULES = ["label", "select-name", "button-name", "input-button-name", "aria-input-field-name", "aria-toggle-field-name", "link-name"];

let sl, fixture, browser, opsCtx, orgId, siteId, sessionId, pageKey, siteKey = "";

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build) to run the accessibility test");
  mkdirSync(shots, { recursive: true });
  sl = await startSightline(bin, [], {
    prepare: (run) => createOperator(run, OPERATOR),
  });
  let fixtureOrigin;
  ({ origin: fixtureOrigin, server: fixture } = await serveHtml(
    () => `<!doctype html><html lang="en"><head><title>Fixture</title>
<script async src="${sl.base}/s/${siteKey}.js"></script></head>
<body><h1>Teapot shop</h1><button id="buy" onclick="this.textContent='Added'">Add to cart</button></body></html>`,
  ));
  browser = await launchChromium();

  // The operator logs in, makes a site, and a visitor makes one recording.
  // bypassCSP: the dashboard allows only its own scripts; axe is injected inline.
  opsCtx = await browser.newContext({ viewport: { width: 1280, height: 860 }, bypassCSP: true });
  const { call, me } = await logIn(opsCtx, sl.base, OPERATOR);
  assert.equal(me.user.operator, true, "create-user -operator makes an operator");
  orgId = me.memberships[0].organizationId;
  ({ siteId, siteKey } = await createSite(call, orgId));
  // A desktop browser, not headless Chromium: a bot is in no heatmap, and the Heatmaps page is looked at with a map.
  const visitor = await browser.newPage({ userAgent: DESKTOP_UA });
  pageKey = `${fixtureOrigin}/`;
  await visitor.goto(pageKey);
  await waitFor(() => visitor.evaluate(() => typeof window.sightline === "function"), "the tracker to load", 15_000);
  await visitor.waitForTimeout(800);
  await visitor.click("#buy");
  await visitor.waitForTimeout(1500);
  await visitor.close(); // page hide flushes the last batch
  sessionId = await waitFor(async () => {
    const r = await call("POST", `/api/v1/sites/${siteId}/sessions:search`, {});
    return r.status === 200 && r.json().sessions?.[0]?.sessionId;
  }, "the visit to be searchable", 90_000);
});

after(async () => {
  await browser?.close();
  fixture?.close();
  await sl?.stop();
});

/** settle waits for a page's data: no spinner left, fonts and layout done. */
async function settle(page, ready) {
  try {
    await page.locator(ready).first().waitFor({ timeout: 30_000 });
  } catch (e) {
    const main = await page.locator((await page.locator("#main").count()) ? "#main" : "body").innerText().catch(() => "");
    throw new Error(`${page.url()}: ${ready} did not show; the page says:\n${main.slice(0, 600)}`, { cause: e });
  }
  await waitFor(async () => (await page.locator(".spinner").count()) === 0, "the spinners to go", 15_000);
  await page.evaluate(() => document.fonts.ready);
}

/** axe runs axe-core on the page (not inside a replayed recording or a heatmap's rebuilt page: the visited site's markup). */
async function axe(page, options) {
  if (!(await page.evaluate(() => "axe" in window))) await page.addScriptTag({ path: axePath });
  return page.evaluate(
    (opts) => window.axe.run({ exclude: [[".player-frame"], [".heat-frame"]] }, { iframes: false, ...opts }).then((r) => r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(" ")} — ${n.failureSummary?.split("\n").slice(1).join(" ").trim()}`),
    }))),
    options,
  );
}

function describe(violations) {
  return violations.map((v) => `  [${v.impact}] ${v.id}: ${v.help}\n${v.nodes.map((n) => `      ${n}`).join("\n")}`).join("\n");
}

/** checkPage takes a screenshot and notes serious or critical axe violations, unnamed controls and focus that does not show. */
async function checkPage(page, name, scheme, problems, counts) {
  const all = (await axe(page)).filter((v) => !KNOWN.some((k) => k.page === name && k.rule === v.id));
  const bad = all.filter((v) => v.impact === "serious" || v.impact === "critical");
  // Unnamed controls fail whatever impact axe gives them.
  const unnamed = all.filter((v) => NAME_RULES.includes(v.id) && !bad.includes(v));
  if (bad.length || unnamed.length) problems.push(`${name} (${scheme}):\n${describe([...bad, ...unnamed])}`);
  await page.screenshot({ path: path.join(shots, `${name}-${scheme}.png`), fullPage: name !== "replay" });
  const stops = await walkFocus(page);
  counts[`${name}-${scheme}`] = stops.length;
  if (stops.length === 0) problems.push(`${name} (${scheme}): Tab reached nothing`);
  const plain = stops.filter((f) => !f.visible);
  if (plain.length) problems.push(`${name} (${scheme}): focus not visible on ${plain.map((f) => `${f.tag} "${f.label}" (${f.focused})`).join(", ")}`);
}

const signedInPages = () => [
  { name: "home", url: "/", ready: "[data-testid=recording-row]" },
  { name: "sites", url: `/o/${orgId}/sites`, ready: ".site-list" },
  { name: "site-install", url: `/o/${orgId}/sites/${siteId}/setup`, ready: "[data-testid=install-snippet]" },
  { name: "site-settings", url: `/o/${orgId}/sites/${siteId}/setup?tab=settings`, ready: "[data-testid=site-settings]" },
  { name: "site-danger", url: `/o/${orgId}/sites/${siteId}/setup?tab=site`, ready: "[data-testid=setup-panel] input" },
  { name: "recordings", url: `/o/${orgId}/sites/${siteId}/recordings`, ready: "[data-testid=recording-row]" },
  // Filters as a heatmap's link sets them: the chips above the list.
  { name: "recordings-filtered", url: `/o/${orgId}/sites/${siteId}/recordings?range=7d&errors=0&clicked=${encodeURIComponent("main>button.add-to-cart")}`, ready: "[data-testid=active-filters]" },
  // Trends & funnels (traffic.e2e checks them with counts).
  { name: "overview", url: `/o/${orgId}/sites/${siteId}/overview`, ready: "[data-testid=tr-tiles]" },
  { name: "realtime", url: `/o/${orgId}/sites/${siteId}/realtime`, ready: "[data-testid=rt-visitors]" },
  { name: "funnels", url: `/o/${orgId}/sites/${siteId}/funnels`, ready: "[data-testid=fn-builder]" },
  { name: "heatmaps", url: `/o/${orgId}/sites/${siteId}/heatmaps?page=${encodeURIComponent(pageKey)}&device=all`, ready: "[data-testid=heat-stage][data-state=drawn]" },
  // Feedback & surveys on a site without answers or surveys (feedback.e2e checks them filled); the builder and widget settings with their live preview.
  { name: "responses", url: `/o/${orgId}/sites/${siteId}/feedback`, ready: "[data-testid=answers-empty]" },
  { name: "surveys", url: `/o/${orgId}/sites/${siteId}/surveys`, ready: "[data-testid=surveys-empty]" },
  { name: "survey-builder", url: `/o/${orgId}/sites/${siteId}/surveys/new`, ready: "[data-testid=preview][data-state=shown]" },
  { name: "feedback-widget", url: `/o/${orgId}/sites/${siteId}/feedback-widget`, ready: "[data-testid=preview][data-state=shown]" },
  { name: "replay", url: `/o/${orgId}/sites/${siteId}/recordings/${sessionId}`, ready: "[data-testid=replay-player][data-status=done]" },
  { name: "team", url: `/o/${orgId}/team`, ready: "[data-testid=member-list]" },
  { name: "api-keys", url: `/o/${orgId}/api-keys`, ready: "[data-testid=create-api-key]" },
  { name: "operator", url: "/operator", ready: "[data-testid=operator-page] .stats" },
  // Notifications on a site without rules or webhooks (notify.e2e checks them filled, with axe too).
  { name: "notifications", url: `/o/${orgId}/sites/${siteId}/settings/notifications`, ready: "[data-testid=alerts-empty]" },
  { name: "webhooks", url: `/o/${orgId}/sites/${siteId}/settings/webhooks`, ready: "[data-testid=webhooks-empty]" },
  { name: "outbox", url: "/admin/outbox", ready: "[data-testid=outbox-page] :is([data-testid=outbox-empty], [data-testid=outbox-list], [data-testid=outbox-smtp])" },
];

test("every page passes axe in light and dark, with named controls", { timeout: 300_000 }, async (t) => {
  const problems = [];
  const errors = [];
  const counts = {};
  for (const scheme of SCHEMES) {
    // Signed out: log-in and sign-up.
    const anon = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: scheme, bypassCSP: true });
    t.after(() => anon.close());
    const p = await anon.newPage();
    p.on("pageerror", (e) => errors.push(e.message));
    for (const [name, url, ready] of [["login", "/login", "[data-testid=login-form]"], ["signup", "/signup", "[data-testid=signup-form]"], ["unsubscribe", "/unsubscribe?token=t", "[data-testid=unsubscribe-button]"]]) {
      await p.goto(sl.base + url);
      await settle(p, ready);
      await checkPage(p, name, scheme, problems, counts);
    }
    const page = await opsCtx.newPage();
    page.on("pageerror", (e) => errors.push(e.message));
    await page.emulateMedia({ colorScheme: scheme });
    for (const { name, url, ready } of signedInPages()) {
      await page.goto(sl.base + url);
      await settle(page, ready);
      await checkPage(page, name, scheme, problems, counts);
    }
    await page.close();
  }
  t.diagnostic(`focus stops checked: ${Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(", ")}`);
  assert.ok(problems.length === 0, `accessibility problems:\n${problems.join("\n")}`);
  assert.deepEqual(errors, [], "no uncaught errors");
});

test("Tab walks the skip link and the navigation in order, with a visible focus ring", async (t) => {
  const page = await opsCtx.newPage();
  t.after(() => page.close());
  await page.goto(`${sl.base}/o/${orgId}/sites`);
  await settle(page, ".site-list");

  // The current page is marked, and only it.
  const current = await page.locator("#main-nav [aria-current=page]").allInnerTexts();
  assert.deepEqual(current, ["Sites"]);

  const visited = await walkFocus(page, { until: OPERATOR_NAV.at(-1) });
  const plain = visited.filter((f) => !f.visible);
  assert.deepEqual(plain, [], "every element Tab reaches shows that it has focus");
  assert.equal(visited[0].label, "Skip to content", "the skip link comes first");
  const navLinks = visited.filter((f) => f.inNav && f.tag === "A").map((f) => f.label);
  assert.deepEqual(navLinks, OPERATOR_NAV, `the navigation's links in order (visited: ${visited.map((f) => f.label).join(" → ")})`);
  const switchers = visited.filter((f) => f.tag === "SELECT").length;
  assert.equal(switchers, 2, "the organisation and site switchers are reachable");

  // The skip link moves focus to the page's content.
  await page.keyboard.press("Shift+Tab");
  await page.reload();
  await settle(page, ".site-list");
  const at = page.url();
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "main");
  // Without leaving the page: against the page's <base href>, "#main" alone is the dashboard's root.
  await page.waitForTimeout(300);
  assert.equal(page.url(), at, "the skip link stays on the page");
});

test("the replay page answers its keyboard shortcuts, and leaves Space to a focused button", async (t) => {
  const page = await opsCtx.newPage();
  t.after(() => page.close());
  await page.goto(`${sl.base}/o/${orgId}/sites/${siteId}/recordings/${sessionId}`);
  await settle(page, "[data-testid=replay-player][data-status=done][data-ready='1']");
  const play = page.getByTestId("play-pause");
  const clock = async () => Number(await page.getByTestId("timeline").getAttribute("aria-valuenow"));
  await page.evaluate(() => document.activeElement?.blur());

  // Space and k play and pause.
  const before = await play.getAttribute("aria-label");
  await page.keyboard.press("Space");
  assert.notEqual(await play.getAttribute("aria-label"), before, "Space toggles play");
  await page.keyboard.press("k");
  assert.equal(await play.getAttribute("aria-label"), before, "k toggles it back");
  if ((await play.getAttribute("aria-label")) === "Pause") await page.keyboard.press("Space");
  assert.equal(await play.getAttribute("aria-label"), "Play");

  // ← back to the start, → moves the clock on (the visit is shorter than 5 s: to its end), Shift+← 30 s back.
  await page.keyboard.press("ArrowLeft");
  assert.equal(await clock(), 0, "← goes back (to the start)");
  await page.keyboard.press("ArrowRight");
  const total = Number(await page.getByTestId("timeline").getAttribute("aria-valuemax"));
  assert.equal(await clock(), Math.min(5000, total), "→ moves the clock 5 s on");
  await page.keyboard.press("Shift+ArrowLeft");
  assert.equal(await clock(), 0, "Shift+← goes 30 s back");

  // > and < step the speed, f the 1:1 view.
  const speedOn = () => page.locator("[data-testid=speed] [aria-pressed=true]").innerText();
  await page.keyboard.press(">");
  assert.equal(await speedOn(), "2×");
  await page.keyboard.press("<");
  assert.equal(await speedOn(), "1×");
  await page.keyboard.press("f");
  assert.equal(await page.getByTestId("actual-size").getAttribute("aria-pressed"), "true");
  await page.keyboard.press("f");

  // ? lists the shortcuts in a dialog that passes axe; Escape closes it.
  await page.keyboard.press("?");
  const dialog = page.getByRole("dialog", { name: "Keyboard shortcuts" });
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Play or pause[\s\S]*Space/);
  const bad = (await axe(page)).filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `shortcut list:\n${describe(bad)}`);
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });

  // Space on a focused button presses that button, and does not play.
  await page.locator("[data-testid=speed] button", { hasText: "4×" }).focus();
  await page.keyboard.press("Space");
  assert.equal(await speedOn(), "4×");
  assert.equal(await play.getAttribute("aria-label"), "Play", "Space on a button does not toggle play");

  // The timeline slider steps with its arrows when focused.
  await page.getByTestId("timeline").focus();
  await page.keyboard.press("End");
  assert.equal(await clock(), total, "End on the slider goes to the end");
  await page.keyboard.press("Home");
  assert.equal(await clock(), 0, "Home on the slider goes to the start");
  assert.match(await page.getByTestId("timeline").getAttribute("aria-valuetext"), /^0:00 of \d+:\d\d$/);
});

/**
 * walkFocus presses Tab through the page (up to max times, or until the
 * element labelled until, or until focus comes round again) and answers
 * each focused element with whether its focused look (outline, box-shadow,
 * border, background) differs from its look once blurred.
 */
async function walkFocus(page, { until, max = 150 } = {}) {
  const visited = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const f = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return { end: true };
      // The replayed page is the visited site's markup, not ours.
      if (el.tagName === "IFRAME") return { skip: true };
      if (el.dataset.a11yVisited) return { end: true };
      el.dataset.a11yVisited = "1";
      const look = () => {
        const s = getComputedStyle(el);
        return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow, s.borderColor, s.backgroundColor].join(" | ");
      };
      const focused = look();
      el.blur();
      const rest = look();
      el.focus();
      const label = (el.innerText || el.getAttribute("aria-label") || el.getAttribute("title") || el.getAttribute("name") || el.dataset.testid || el.tagName).trim().slice(0, 60);
      return { label, tag: el.tagName, inNav: !!el.closest("#main-nav"), visible: focused !== rest, focused };
    });
    if (f.end) break;
    if (f.skip) continue;
    visited.push(f);
    if (f.label === until) break;
  }
  await page.evaluate(() => document.querySelectorAll("[data-a11y-visited]").forEach((el) => delete el.dataset.a11yVisited));
  return visited;
}

/** overflowing answers the innermost elements reaching past the viewport's right edge (the page would scroll sideways). */
function overflowing(page) {
  return page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const out = [...document.body.querySelectorAll("*")].filter((el) => {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= w + 1) return false;
      // Inside a scrolling box (a wide table) is fine.
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        if (["auto", "scroll", "hidden"].includes(getComputedStyle(p).overflowX) && p.getBoundingClientRect().right <= w + 1) return false;
      }
      return ![...el.children].some((c) => c.getBoundingClientRect().right > w + 1);
    });
    return out.map((el) => `${el.tagName.toLowerCase()}${el.className && typeof el.className === "string" ? "." + el.className.split(" ").join(".") : ""} (right ${Math.round(el.getBoundingClientRect().right)})`);
  });
}

test("on a 375 px phone the navigation is behind a menu button", async (t) => {
  for (const scheme of SCHEMES) {
    const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, colorScheme: scheme, bypassCSP: true, storageState: await opsCtx.storageState() });
    t.after(() => phone.close());
    const page = await phone.newPage();
    await page.goto(`${sl.base}/o/${orgId}/sites/${siteId}/recordings`);
    await settle(page, "[data-testid=recording-row]");
    const menu = page.getByTestId("menu-button");
    const nav = page.locator("#main-nav");
    assert.equal(await menu.getAttribute("aria-expanded"), "false");
    assert.equal(await nav.isVisible(), false, "the navigation is folded away");
    await page.screenshot({ path: path.join(shots, `phone-recordings-${scheme}.png`), fullPage: true });
    assert.deepEqual(await overflowing(page), [], "nothing sticks out sideways");

    await menu.click();
    assert.equal(await menu.getAttribute("aria-expanded"), "true");
    await nav.waitFor({ state: "visible" });
    const bad = (await axe(page)).filter((v) => v.impact === "serious" || v.impact === "critical");
    assert.deepEqual(bad, [], `phone menu (${scheme}):\n${describe(bad)}`);
    await page.screenshot({ path: path.join(shots, `phone-menu-${scheme}.png`) });

    // Escape closes it and gives focus back to the button.
    await nav.getByRole("link", { name: "Team" }).focus();
    await page.keyboard.press("Escape");
    assert.equal(await menu.getAttribute("aria-expanded"), "false");
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), "menu-button");

    // A followed link closes it.
    await menu.click();
    await nav.getByRole("link", { name: "Team" }).click();
    await page.waitForURL(/\/team$/);
    await waitFor(async () => (await menu.getAttribute("aria-expanded")) === "false", "the menu to close after the link was followed", 5000);
    await settle(page, "[data-testid=member-list]");
    await page.screenshot({ path: path.join(shots, `phone-team-${scheme}.png`), fullPage: true });
    assert.deepEqual(await overflowing(page), [], "nothing on the team page sticks out sideways");
  }
});

test("only operators see the Operator section", async (t) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  t.after(() => ctx.close());
  const member = await signUp(ctx, sl.base, "member@example.com");
  const page = await ctx.newPage();
  await page.goto(`${sl.base}/o/${member.orgId}/sites`);
  await page.locator("#main-nav").waitFor();
  const links = await page.locator("#main-nav a").allInnerTexts();
  assert.deepEqual(links, ["Sites", "Team", "API keys"], "a member without sites sees the organisation's pages");
  // The API refuses the operator page to others; the page says so.
  await page.goto(`${sl.base}/operator`);
  await page.getByRole("alert").waitFor();
  assert.equal(await page.locator("[data-testid=operator-page] .stats").count(), 0);
});
