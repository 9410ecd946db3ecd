// A newcomer's first minutes (issue 18), in Debian's Chromium against the
// real binary: a fresh instance opens on sign-up, says the first account
// operates the instance, and that account is the operator; logged-out pages
// (log in, sign up, forgot password) log no console error — in particular
// no 401 for /api/v1/me, which they no longer ask while signed out.
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/firstrun.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launchChromium, startSightline } from "./harness.mjs";

const bin = process.env.SIGHTLINE_BIN;
const PASSWORD = "a long enough passphrase 42";

let sl, browser;

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build) to run the first-run end-to-end test");
  sl = await startSightline(bin);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await sl?.stop();
});

/** watch records a page's console errors, uncaught errors and its /api/v1/me requests. */
function watch(page) {
  const seen = { errors: [], me: [] };
  page.on("console", (m) => {
    if (m.type() === "error") seen.errors.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => seen.errors.push(`${page.url()}: ${e.message}`));
  page.on("request", (r) => {
    if (new URL(r.url()).pathname === "/api/v1/me") seen.me.push(page.url());
  });
  return seen;
}

test("a fresh instance opens on sign-up, and the first account is the operator", { timeout: 120_000 }, async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const seen = watch(page);
  await page.goto(`${sl.base}/`);
  await page.waitForURL(/\/signup$/);
  const note = page.getByTestId("first-run-note");
  await note.waitFor();
  assert.match(await note.innerText(), /operator/);
  // Log-in has nobody to log in yet: it sends to sign-up too.
  await page.goto(`${sl.base}/login`);
  await page.waitForURL(/\/signup$/);
  await page.getByTestId("signup-form").waitFor();

  const form = page.getByTestId("signup-form");
  await form.getByLabel("Your name").fill("Ops");
  await form.getByLabel("Work e-mail").fill("ops@example.com");
  await form.getByLabel("Password").fill(PASSWORD);
  await form.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(/\/o\/\d+\/sites/);
  const me = await ctx.request.get(`${sl.base}/api/v1/me`);
  assert.equal(me.status(), 200);
  assert.equal((await me.json()).user.operator, true, "the first account operates the instance");

  // The first site: its snippet on one line (no lone ">"), the note that a
  // real site needs server.public-url, and the domain field's whole hint.
  const create = page.getByTestId("create-site-form");
  await create.locator("input[name=domain]").fill("localhost");
  await create.locator("button[type=submit]").click();
  const snippet = page.getByTestId("install-snippet");
  await snippet.waitFor();
  assert.match(await snippet.innerText(), new RegExp(`^<script async src="${sl.base}/s/[^"]+\\.js"></script>$`));
  await page.setViewportSize({ width: 640, height: 800 }); // a narrow window: the tag used to wrap anywhere
  const lines = await snippet.evaluate((el) => el.getBoundingClientRect().height / (parseFloat(getComputedStyle(el).fontSize) * 1.6));
  assert.ok(lines < 1.5, `the snippet wraps onto ${lines.toFixed(1)} lines`);
  assert.match(await page.getByTestId("public-url-warning").innerText(), /server\.public-url/);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${page.url().split("?")[0]}?tab=settings`);
  const fit = await page.getByTestId("domain-input").evaluate((el) => {
    const cs = getComputedStyle(el);
    const c = document.createElement("canvas").getContext("2d");
    c.font = `${cs.fontSize} ${cs.fontFamily}`;
    const room = el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    return { need: c.measureText(el.placeholder).width, room };
  });
  assert.ok(fit.need <= fit.room, `the "Add domain" hint needs ${fit.need}px, has ${fit.room}px`);
  assert.deepEqual(seen.errors, [], "console errors while signing up and creating the first site");
  await ctx.close();
});

test("logged-out pages log no console error and ask nothing about a session", { timeout: 120_000 }, async () => {
  // After the first sign-up (the test above, or here if run alone).
  const first = await browser.newContext();
  await first.request.post(`${sl.base}/api/v1/auth/signup`, { data: { email: "ops@example.com", password: PASSWORD, name: "Ops" } });
  await first.close();

  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const seen = watch(page);
  for (const [path, ready] of [
    ["/login", "login-form"],
    ["/signup", "signup-form"],
    ["/forgot-password", "forgot-password-form"],
    ["/", "login-form"], // a signed-out visit to the dashboard lands on log-in
  ]) {
    await page.goto(`${sl.base}${path}`);
    await page.getByTestId(ready).waitFor();
    assert.equal(await page.getByTestId("first-run-note").count(), 0, `${path}: first-run note after the first sign-up`);
  }
  assert.deepEqual(seen.errors, [], "console errors on logged-out pages");
  assert.deepEqual(seen.me, [], "logged-out pages asked /api/v1/me");

  // A session the gateway no longer knows (cookies kept from a revoked or
  // reset instance) costs one 401 at most, and the hint goes with it.
  await ctx.addCookies([
    { name: "sl_session", value: "sls_not-a-session", url: sl.base, httpOnly: true },
    { name: "sl_csrf", value: "stale", url: sl.base },
  ]);
  seen.me.length = 0;
  await page.goto(`${sl.base}/`);
  await page.getByTestId("login-form").waitFor();
  await page.goto(`${sl.base}/login`);
  await page.getByTestId("login-form").waitFor();
  assert.equal(seen.me.length, 1, `a stale session was asked about ${seen.me.length} times`);
  assert.equal((await ctx.cookies(sl.base)).find((c) => c.name === "sl_csrf"), undefined, "the stale hint was kept");
  await ctx.close();
});
