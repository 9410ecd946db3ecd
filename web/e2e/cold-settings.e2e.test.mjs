// Cold recordings (issue 18): the site settings page sets the age after
// which recordings move to object storage, in Debian's Chromium against the
// real binary; neither the form nor the service takes an age past the
// retention.
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/cold-settings.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createSite, launchChromium, signUp, startSightline } from "./harness.mjs";

const bin = process.env.SIGHTLINE_BIN;

let sl, browser;

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build) to run the cold-settings end-to-end test");
  sl = await startSightline(bin);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await sl?.stop();
});

test("the settings page sets the cold age, and an age past the retention is refused with the reason", { timeout: 120_000 }, async () => {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const owner = await signUp(ctx, sl.base, "cold@example.com");
  const { siteId } = await createSite(owner.call, owner.orgId, { name: "Cold shop", domains: ["cold.example.com"] });
  const page = await ctx.newPage();
  await page.goto(`${sl.base}/o/${owner.orgId}/sites/${siteId}/setup?tab=settings`);
  const form = page.getByTestId("site-settings");
  const cold = form.locator("input[name=coldAfterDays]");
  await cold.waitFor();
  assert.equal(await cold.inputValue(), "0", "a new site never moves recordings");
  assert.match(await form.innerText(), /Move recordings to object storage after\s+days \(0 = never\)/);
  const retention = await form.locator("input[name=retentionDays]").inputValue();
  assert.equal(await cold.getAttribute("max"), retention, "the field stops at the retention");

  await cold.fill("7");
  const saved = page.waitForResponse((r) => r.request().method() === "PATCH" && r.url().endsWith(`/api/v1/sites/${siteId}/settings`));
  await form.getByTestId("save-settings").click();
  const res = await saved;
  assert.equal(res.status(), 200, await res.text());
  assert.deepEqual(JSON.parse(res.request().postData()).updateMask, "coldAfterDays", "only the changed field is sent");
  assert.equal((await res.json()).settings.coldAfterDays, 7);
  await form.getByText("Saved.").waitFor();
  await page.reload();
  await cold.waitFor();
  assert.equal(await cold.inputValue(), "7");

  // Past the retention: the form will not send it, and the service, asked
  // directly, refuses it with the reason.
  let patches = 0;
  page.on("request", (r) => {
    if (r.method() === "PATCH") patches++;
  });
  await cold.fill(String(Number(retention) + 1));
  await form.getByTestId("save-settings").click();
  assert.equal(await cold.evaluate((el) => el.validity.rangeOverflow), true);
  const tooOld = await owner.call("PATCH", `/api/v1/sites/${siteId}/settings`, { settings: { coldAfterDays: Number(retention) + 1 }, updateMask: "coldAfterDays" });
  assert.equal(tooOld.status, 400, tooOld.text);
  assert.match(tooOld.text, new RegExp(`cold_after_days must be between 0 \\(never\\) and ${retention}`));
  assert.equal(patches, 0, "the form sent an age past the retention");
  const now = await owner.call("GET", `/api/v1/sites/${siteId}/settings`);
  assert.equal(now.json().settings.coldAfterDays, 7, now.text);
  await ctx.close();
});
