// Sightline behind a reverse proxy at a path prefix, in Debian's Chromium
// against the real binary: server.public-url http://localhost:P/sightline
// and a proxy on P that strips /sightline (as the README's "Public URL"
// allows). A newcomer signs up through the forms, clicks through the demo
// shop, finds the visit in the recordings list, reloads it, replays the
// visit, and opens the heatmaps and the overview by deep link — and not one request of the dashboard, the shop or the
// replay leaves the prefix, none fails, and no page logs an error.
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/prefix.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DESKTOP_UA, launchChromium, signUpWithForms, startSightline, waitFor } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const shots = path.resolve(process.env.SCREENSHOT_DIR ?? path.join(here, "../test-results/prefix"));
const bin = process.env.SIGHTLINE_BIN;
const PREFIX = "/sightline";
const MINUTE = 60_000;

let sl, proxy, browser;
/** Requests that reached the proxy outside the prefix (each answered 404). */
const escaped = [];

/**
 * stripPrefix is a reverse proxy on a free port that forwards PREFIX/… to upstream() as /… and
 * answers anything else 404. It listens before the binary starts, which must be told its address.
 */
async function stripPrefix(upstream) {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, "http://proxy.invalid");
    if (u.pathname !== PREFIX && !u.pathname.startsWith(PREFIX + "/")) {
      escaped.push(`${req.method} ${req.url}`);
      res.writeHead(404, { "Content-Type": "text/plain" }).end("outside the prefix");
      return;
    }
    const headers = { ...req.headers, "x-forwarded-prefix": PREFIX };
    const fwd = http.request(
      { host: "127.0.0.1", port: new URL(upstream()).port, method: req.method, path: u.pathname.slice(PREFIX.length) + u.search || "/", headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    fwd.on("error", (e) => res.headersSent ? res.destroy(e) : res.writeHead(502).end(String(e)));
    req.pipe(fwd);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return server;
}

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build) to run the path-prefix end-to-end test");
  mkdirSync(shots, { recursive: true });
  proxy = await stripPrefix(() => sl.base);
  const { port } = proxy.address();
  sl = await startSightline(bin, ["-server.public-url", `http://localhost:${port}${PREFIX}`, "-demo.enabled"]);
  proxy.base = `http://localhost:${port}${PREFIX}`;
  browser = await launchChromium({ userAgent: DESKTOP_UA });
});

after(async () => {
  await browser?.close();
  proxy?.closeAllConnections();
  proxy?.close();
  await sl?.stop();
});

/** watch collects a page's console errors, uncaught errors and failed responses. */
function watch(page, into) {
  page.on("console", (m) => m.type() === "error" && into.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => into.push(`pageerror: ${e.message}`));
  page.on("response", (r) => r.status() >= 400 && into.push(`${r.status()} ${r.request().method()} ${r.url()}`));
  page.on("requestfailed", (r) => {
    // Leaving a page cancels its requests; the replay aborts a stream it no longer needs.
    if (!/ERR_ABORTED/.test(r.failure()?.errorText ?? "")) into.push(`failed ${r.url()}: ${r.failure()?.errorText}`);
  });
}

test("the whole dashboard works behind a proxy's path prefix", { timeout: 240_000 }, async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const dash = await ctx.newPage();
  const problems = [];
  watch(dash, problems);

  // The index names the prefix as its base; a deep link survives a reload.
  await dash.goto(`${proxy.base}/`);
  await dash.waitForURL(`${proxy.base}/signup`);
  assert.equal(await dash.locator("base").getAttribute("href"), `${PREFIX}/`);
  await signUpWithForms(dash, proxy.base, "prefix@example.com", "shop.example.com");
  const snippet = await dash.getByTestId("install-snippet").innerText();
  assert.ok(snippet.includes(`${proxy.base}/s/k_`), `the snippet loads through the prefix: ${snippet}`);
  assert.ok(dash.url().startsWith(`${proxy.base}/o/`), `the dashboard's routes keep the prefix: ${dash.url()}`);
  await dash.screenshot({ path: path.join(shots, "1-snippet.png") });

  // The demo shop, opened from the dashboard, under the prefix.
  await dash.goto(`${proxy.base}/`);
  await dash.getByTestId("demo-card").waitFor({ timeout: 15_000 });
  const [shop] = await Promise.all([ctx.waitForEvent("page"), dash.getByTestId("demo-open").click()]);
  watch(shop, problems);
  await shop.waitForURL(new RegExp(`^${proxy.base}/demo/k_[A-Za-z0-9_-]+/$`), { timeout: 15_000 });
  await waitFor(() => shop.evaluate(() => typeof window.sightline === "function"), "the snippet to load in the demo shop", 15_000);
  await shop.mouse.move(300, 300, { steps: 5 });
  await shop.locator("[data-testid=product-card] h3 a").nth(1).click();
  await shop.waitForURL(/\/products\/mug$/);
  await shop.getByTestId("add-to-cart").click();
  await shop.waitForURL(/\/cart\?add=mug$/);
  await shop.mouse.move(400, 400, { steps: 5 });
  await shop.waitForTimeout(1500);

  // The visit in the list, then its replay, the shop drawn with its styles.
  await dash.bringToFront();
  await dash.locator("[data-testid=recording-row]").first().waitFor({ timeout: MINUTE });
  const list = dash.url();
  assert.ok(list.startsWith(`${proxy.base}/o/`) && list.includes("/recordings"), list);
  await dash.reload();
  await dash.locator("[data-testid=recording-row]").first().waitFor({ timeout: 15_000 });
  await dash.locator("[data-testid=recording-row] a").first().click();
  await dash.locator("[data-testid=replay-player][data-ready='1']").waitFor({ timeout: MINUTE });
  const frame = dash.frameLocator("[data-testid=replay-frame] iframe");
  await frame.locator("text=Lumen").first().waitFor({ timeout: MINUTE });
  await dash.screenshot({ path: path.join(shots, "2-replay.png") });
  const share = await dash.evaluate(() => location.href);
  assert.ok(share.startsWith(`${proxy.base}/o/`), share);

  // Heatmaps and traffic, by deep link (each a fresh load of the index).
  const site = /\/o\/([^/]+)\/sites\/([^/]+)\//.exec(new URL(share).pathname);
  assert.ok(site, share);
  for (const [section, ready] of [["heatmaps", "[data-testid=heatmaps-page]"], ["overview", "[data-testid=overview-page]"]]) {
    await dash.goto(`${proxy.base}/o/${site[1]}/sites/${site[2]}/${section}`);
    await dash.locator(ready).first().waitFor({ timeout: 20_000 });
    await dash.screenshot({ path: path.join(shots, `3-${section}.png`) });
  }

  assert.deepEqual(escaped, [], "no request leaves the prefix");
  assert.deepEqual(problems, [], "no request fails and no page logs an error");
  await ctx.close();
});
