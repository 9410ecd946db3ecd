// Account e-mails end to end, against the real binary in Debian's Chromium:
// a second sign-up sees "Check your e-mail" (with a resend), follows the
// verification link from the outbox and lands in the dashboard; "Forgot
// password?" e-mails a reset link whose page sets a new password, signs
// out the old session and logs in; the old password then fails and the new
// one works; an unconfirmed log-in is explained with a resend; a used or
// mangled link says so. Screenshots go to test-results/auth (or
// SCREENSHOT_DIR).
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/auth.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium, outboxToken, startSightline } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const shots = path.resolve(process.env.SCREENSHOT_DIR ?? path.join(here, "../test-results/auth"));
const bin = process.env.SIGHTLINE_BIN;
const PASSWORD = "a long enough passphrase 42";
const NEW_PASSWORD = "a brand new passphrase 43";

let sl, browser;

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build) to run the auth end-to-end test");
  mkdirSync(shots, { recursive: true });
  sl = await startSightline(bin);
  browser = await launchChromium();
  // The instance's first user is logged in at once: the operator.
  const ctx = await browser.newContext();
  const r = await ctx.request.post(`${sl.base}/api/v1/auth/signup`, { data: { email: "ops@example.com", password: PASSWORD, name: "Ops" } });
  assert.equal(r.status(), 200, await r.text());
  assert.ok((await r.json()).organization?.id, "the first user is signed in with an organisation");
  await ctx.close();
});

after(async () => {
  await browser?.close();
  await sl?.stop();
});

/** me answers the signed-in user of a page's context, or the HTTP status. */
async function me(page) {
  const r = await page.context().request.get(`${sl.base}/api/v1/me`);
  return r.ok() ? (await r.json()).user : r.status();
}

test("sign-up asks to confirm the address; the e-mailed link logs in", { timeout: 120_000 }, async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${sl.base}/signup`);
  const form = page.getByTestId("signup-form");
  await form.getByLabel("Your name").fill("Second");
  await form.getByLabel("Work e-mail").fill("second@example.com");
  await form.getByLabel("Password").fill(PASSWORD);
  await form.getByRole("button", { name: "Create account" }).click();
  const check = page.getByTestId("check-email");
  await check.waitFor();
  assert.equal(await page.getByTestId("check-email-address").innerText(), "second@example.com");
  assert.equal(await me(page), 401, "nobody is logged in before the address is confirmed");
  await page.screenshot({ path: path.join(shots, "check-email.png"), fullPage: true });
  await check.getByTestId("resend-verification").click();
  await check.getByRole("status").waitFor();

  const token = await outboxToken(sl.base, "second@example.com", "verify-email");
  await page.goto(`${sl.base}/verify-email?token=${token}`);
  await page.waitForURL((u) => !/verify-email|login/.test(u.pathname), { timeout: 30_000 });
  assert.equal((await me(page)).email, "second@example.com");
  assert.ok((await me(page)).emailVerifyTime, "the address is verified");

  // The link works once.
  const other = await browser.newPage();
  await other.goto(`${sl.base}/verify-email?token=${token}`);
  const failed = other.getByTestId("verify-email-failed");
  await failed.waitFor();
  assert.match(await failed.innerText(), /expired or was already used/);
  await other.screenshot({ path: path.join(shots, "verify-used.png"), fullPage: true });
  await other.close();
  await ctx.close();
});

test("forgot password: the e-mailed link sets a new one, signs out elsewhere and logs in", { timeout: 120_000 }, async () => {
  const before = await browser.newContext();
  const login = await before.request.post(`${sl.base}/api/v1/auth/login`, { data: { email: "second@example.com", password: PASSWORD } });
  assert.equal(login.status(), 200, await login.text());

  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${sl.base}/login`);
  await page.getByTestId("forgot-password-link").click();
  await page.waitForURL("**/forgot-password");
  await page.getByTestId("forgot-password-form").getByLabel("E-mail").fill("second@example.com");
  await page.getByRole("button", { name: "Send the link" }).click();
  await page.getByTestId("forgot-password-sent").waitFor();
  await page.screenshot({ path: path.join(shots, "forgot-sent.png"), fullPage: true });

  const token = await outboxToken(sl.base, "second@example.com", "reset-password");
  await page.goto(`${sl.base}/reset-password?token=${token}`);
  const form = page.getByTestId("reset-password-form");
  await form.getByLabel("New password").fill(NEW_PASSWORD);
  await form.getByLabel("Repeat it").fill(NEW_PASSWORD + "x");
  await form.getByRole("button", { name: "Set password and log in" }).click();
  assert.match(await form.getByRole("alert").first().innerText(), /differ/);
  await form.getByLabel("Repeat it").fill(NEW_PASSWORD);
  await page.screenshot({ path: path.join(shots, "reset.png"), fullPage: true });
  await form.getByRole("button", { name: "Set password and log in" }).click();
  await page.waitForURL((u) => !/reset-password|login/.test(u.pathname), { timeout: 30_000 });
  assert.equal((await me(page)).email, "second@example.com");
  assert.equal((await before.request.get(`${sl.base}/api/v1/me`)).status(), 401, "the session from before the reset is signed out");
  await before.close();

  const anon = await browser.newContext();
  const old = await anon.request.post(`${sl.base}/api/v1/auth/login`, { data: { email: "second@example.com", password: PASSWORD } });
  assert.equal(old.status(), 401, "the old password no longer works");
  const fresh = await anon.request.post(`${sl.base}/api/v1/auth/login`, { data: { email: "second@example.com", password: NEW_PASSWORD } });
  assert.equal(fresh.status(), 200, await fresh.text());
  await anon.close();

  // The link works once.
  const again = await ctx.request.post(`${sl.base}/api/v1/auth/reset-password`, { data: { token, password: "yet another passphrase" } });
  assert.equal(again.status(), 400);
  assert.match(await again.text(), /expired or was already used/);
  await ctx.close();
});

test("an unconfirmed address is told kindly at log-in, with a resend; a mangled link says so", { timeout: 120_000 }, async () => {
  const ctx = await browser.newContext();
  const r = await ctx.request.post(`${sl.base}/api/v1/auth/signup`, { data: { email: "third@example.com", password: PASSWORD } });
  assert.equal(r.status(), 200);
  assert.equal((await r.json()).verificationRequired, true);
  const page = await ctx.newPage();
  await page.goto(`${sl.base}/login`);
  const form = page.getByTestId("login-form");
  await form.getByLabel("E-mail").fill("third@example.com");
  await form.getByLabel("Password").fill(PASSWORD);
  await form.getByRole("button", { name: "Log in" }).click();
  const notice = page.getByTestId("login-unverified");
  await notice.waitFor();
  assert.match(await notice.innerText(), /third@example\.com/);
  await page.screenshot({ path: path.join(shots, "login-unverified.png"), fullPage: true });
  await notice.getByTestId("resend-verification").click();
  await notice.getByText("Sent.").waitFor();

  await page.goto(`${sl.base}/reset-password?token=%3Cscript%3E`);
  await page.getByTestId("reset-password-bad-link").waitFor();
  await page.goto(`${sl.base}/verify-email`);
  await page.getByTestId("verify-email-failed").waitFor();
  await ctx.close();
});
