// Limits, not plans (issue 18), in Debian's Chromium against the real
// binary with its default flags: a self-hosted instance says nothing about
// limits or plans at sign-up or in site settings; the operator gives one
// organisation its own retention ceiling on the Operator page, and that
// organisation's settings page shows the new ceiling as the operator's; the
// operator's instance limits then show at sign-up without the word "plan".
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/limits.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createSite, launchChromium, signUp, startSightline } from "./harness.mjs";

const bin = process.env.SIGHTLINE_BIN;

let sl, browser;

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build) to run the limits end-to-end test");
  sl = await startSightline(bin);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await sl?.stop();
});

/**
 * signUpPage opens sign-up as a visitor once the public config has arrived
 * and been drawn, and answers the page's text and its limits line (null
 * when none is shown); with expect, it waits for that line first.
 */
async function signUpPage(expect) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const config = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/v1/config" && r.ok());
  await page.goto(`${sl.base}/signup`);
  await config;
  await page.getByTestId("signup-form").waitFor();
  await page.waitForLoadState("networkidle");
  const limits = page.getByTestId("signup-limits");
  if (expect) await limits.filter({ hasText: expect }).waitFor();
  const shown = (await limits.count()) > 0 ? await limits.innerText() : null;
  const text = await page.locator("body").innerText();
  await ctx.close();
  return { shown, text };
}

test("the operator sets an organisation's retention ceiling and its settings page shows it", { timeout: 180_000 }, async () => {
  const opCtx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const op = await signUp(opCtx, sl.base, "ops@example.com"); // the first user: the operator
  const bobCtx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const bob = await signUp(bobCtx, sl.base, "bob@example.com");
  const { siteId } = await createSite(bob.call, bob.orgId, { name: "Bob's shop", domains: ["shop.example.com"] });

  // Self-hosted defaults: no limit, no plan, anywhere.
  let signup = await signUpPage();
  assert.equal(signup.shown, null, "sign-up shows limits on an instance without any");
  assert.doesNotMatch(signup.text, /plan/i);

  const settingsUrl = `${sl.base}/o/${bob.orgId}/sites/${siteId}/setup?tab=settings`;
  const bobPage = await bobCtx.newPage();
  await bobPage.goto(settingsUrl);
  const retention = bobPage.locator("input[name=retentionDays]");
  await retention.waitFor();
  assert.equal(await bobPage.getByTestId("retention-limit").count(), 0, "an unlimited retention is explained");
  assert.equal(await retention.getAttribute("max"), "3650");
  assert.doesNotMatch(await bobPage.getByTestId("setup-panel").innerText(), /plan/i);

  // The operator gives Bob's organisation 14 days.
  const opPage = await opCtx.newPage();
  await opPage.goto(`${sl.base}/operator`);
  const row = opPage.locator(`[data-testid=operator-org][data-org="${bob.orgId}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /instance defaults/);
  assert.match(await row.innerText(), /unlimited days/);
  await row.getByRole("button", { name: "Edit limits" }).click();
  const form = opPage.getByTestId("org-limits-form");
  await form.locator("input[name=maxRetentionDays]").fill("abc");
  await form.getByRole("button", { name: /Save limits of/ }).click();
  await form.getByRole("alert").filter({ hasText: "Longest retention" }).waitFor();
  await form.locator("input[name=maxRetentionDays]").fill("14");
  await form.getByRole("button", { name: /Save limits of/ }).click();
  await form.waitFor({ state: "detached" });
  await row.filter({ hasText: "own limits" }).waitFor();
  assert.match(await row.innerText(), /14 days/);

  // Bob's settings page now shows the operator's ceiling.
  await bobPage.reload();
  const hint = bobPage.getByTestId("retention-limit");
  await hint.waitFor();
  assert.equal(await hint.innerText(), "(up to 14 days: a limit set by the operator)");
  assert.equal(await bobPage.locator("input[name=retentionDays]").getAttribute("max"), "14");
  // And the service holds Bob to it.
  const tooLong = await bob.call("PATCH", `/api/v1/sites/${siteId}/settings`, { settings: { retentionDays: 20 }, updateMask: "retentionDays" });
  assert.equal(tooLong.status, 400, tooLong.text);
  assert.match(tooLong.text, /between 1 and 14 \(the limit set by the operator\)/);
  // The change is in Bob's organisation's audit log, by the operator.
  const audit = await bob.call("GET", `/api/v1/organizations/${bob.orgId}/audit-events`);
  assert.equal(audit.status, 200, audit.text);
  assert.ok(audit.json().events.some((e) => e.action === "limits.organization.update" && e.target.includes("max_retention_days:14")), audit.text);

  // Instance limits the operator sets show at sign-up, still without "plan".
  const inst = opPage.getByTestId("instance-limits");
  await inst.locator("input[name=sessionsPerDay]").fill("5000");
  await inst.getByRole("button", { name: "Save instance limits" }).click();
  await opPage.locator(`[data-testid=operator-org][data-org="${op.orgId}"]`).filter({ hasText: "5,000 sessions/day" }).waitFor();
  const want = "This instance allows up to 5,000 recorded sessions a day per site.";
  signup = await signUpPage(want);
  assert.equal(signup.shown, want);
  assert.doesNotMatch(signup.text, /plan/i);
  // Bob keeps his own limits: the instance's sessions do not apply to him.
  assert.match(await row.innerText(), /unlimited sessions\/day · 14 days/);

  await opCtx.close();
  await bobCtx.close();
});
