// Finding one's way in the dashboard, in real Chromium against the real
// binary: a reload keeps the organisation's chosen site; a mistyped address
// says "page not found" and stays on its site; a recording or site that is
// not there says so with the way back (no Retry that can only fail again);
// a filter section stays open while its last value is cleared; and a site
// domain with a space is refused in plain words before it is sent.
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/wayfinding.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { browserWithSite, createSite, startSightline, waitFor } from "./harness.mjs";

const bin = process.env.SIGHTLINE_BIN;

let sl;

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build)");
  sl = await startSightline(bin);
});

after(async () => {
  await sl?.stop();
});

const selectedSite = (page) => page.getByTestId("site-switcher").evaluate((s) => s.value);

test("reloads, mistyped addresses, missing things, filter sections and domain words", { timeout: 180_000 }, async (t) => {
  const { browser, orgId, call, siteId: first, page } = await browserWithSite(sl.base, `way-${Date.now()}@example.com`, { viewport: { width: 1280, height: 860 } });
  t.after(() => browser.close());
  const { siteId: second } = await createSite(call, orgId, { name: "Second shop", domains: ["second.example"] });
  const site = `${sl.base}/o/${orgId}/sites/${second}`;

  // The organisation's pages keep the site chosen last, across a reload.
  await page.goto(`${site}/overview`);
  await page.getByTestId("overview-page").waitFor();
  await page.locator("#main-nav").getByRole("link", { name: "Team" }).click();
  await page.waitForURL(/\/team$/);
  await page.reload();
  await page.getByTestId("site-switcher").waitFor();
  assert.equal(await selectedSite(page), second, "after a reload the switcher is on the site chosen last");
  assert.match(await page.locator("#main-nav").getByRole("link", { name: "Recordings" }).getAttribute("href"), new RegExp(`/sites/${second}/recordings$`));

  // A mistyped address: "page not found", on the same site, with the way back.
  await page.goto(`${site}/nope`);
  await page.getByTestId("not-found").waitFor();
  assert.equal(new URL(page.url()).pathname, `/o/${orgId}/sites/${second}/nope`, "the address stays as typed");
  assert.equal(await selectedSite(page), second);
  await page.getByTestId("not-found-back").click();
  await page.waitForURL(new RegExp(`/sites/${second}/recordings$`));

  // A recording that is not there: said so, no Retry, a link to the list.
  await page.goto(`${site}/recordings/s_doesnotexist_0123456789?device=desktop`);
  await page.getByTestId("recording-not-found").waitFor({ timeout: 20_000 });
  assert.equal(await page.getByRole("button", { name: "Retry" }).count(), 0, "no Retry for a recording that is not there");
  await page.getByTestId("not-found-back").click();
  await page.waitForURL(new RegExp(`/sites/${second}/recordings\\?device=desktop$`));

  // A site that is not there: said so, no Retry, the switcher shows no other site.
  await page.goto(`${sl.base}/o/${orgId}/sites/999999/recordings`);
  await page.getByTestId("site-not-found").waitFor({ timeout: 20_000 });
  assert.equal(await page.getByRole("button", { name: "Retry" }).count(), 0, "no Retry for a site that is not there");
  assert.equal(await page.getByTestId("site-switcher").evaluate((s) => s.selectedOptions[0]?.textContent), "(site not found)");
  assert.match(await page.getByTestId("not-found-back").getAttribute("href"), new RegExp(`/o/${orgId}/sites$`));
  // …and is not remembered as the last site.
  await page.goto(`${sl.base}/o/${orgId}/team`);
  await page.getByTestId("site-switcher").waitFor();
  assert.equal(await selectedSite(page), second);

  // A filter section stays open while its last value is cleared.
  await page.goto(`${sl.base}/o/${orgId}/sites/${first}/recordings`);
  const traffic = page.getByTestId("filters-traffic");
  await traffic.locator("summary").click();
  const referrer = page.getByTestId("filter-referrer");
  await referrer.fill("google.com");
  await referrer.press("Enter");
  await page.waitForURL(/[?&]ref=google\.com/);
  await referrer.fill("");
  await referrer.press("Enter");
  await waitFor(() => !/[?&]ref=/.test(page.url()), "the referrer filter to be cleared", 5000);
  await page.waitForTimeout(300);
  assert.equal(await traffic.evaluate((d) => d.open), true, "the section stays open");
  assert.equal(await referrer.isVisible(), true);

  // A domain with a space: refused in plain words, nothing sent.
  const sent = [];
  page.on("request", (r) => r.method() === "POST" && r.url().includes("/domains") && sent.push(r.url()));
  await page.goto(`${site}/setup?tab=settings`);
  await page.getByTestId("domain-input").fill("my shop.com");
  await page.getByRole("button", { name: "Add domain" }).click();
  const problem = page.getByTestId("domain-problem");
  await problem.waitFor();
  assert.match(await problem.innerText(), /can't contain spaces/);
  assert.doesNotMatch(await problem.innerText(), /domains\[0\]|bare host/);
  assert.deepEqual(sent, [], "nothing is sent");
});
