// Notifications end to end, against the real binary in Debian's Chromium:
// an operator adds a webhook pointing at a local Node receiver that checks
// every request's Standard Webhooks signature; "Send test event" reaches it
// signed and the delivery log says Succeeded; with the receiver answering
// 500 the log says Retrying with the error; "Redeliver" sends the same
// webhook-id again; a rotated secret signs next to the old one; disable,
// enable, edit and delete work from the page. The digest setting survives a
// reload; an alert rule is added, edited and deleted; the operator's outbox
// lists the verification e-mail of a second sign-up and shows it (HTML in a
// sandboxed frame, and text); the public unsubscribe page never acts on
// GET and says so when its link is bad. Screenshots go to
// test-results/notify (or SCREENSHOT_DIR).
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/notify.e2e.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { apiCaller, axeViolations, createOperator, createSite, launchChromium, logIn, serveFixture, startSightline, waitFor } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const shots = path.resolve(process.env.SCREENSHOT_DIR ?? path.join(here, "../test-results/notify"));
const bin = process.env.SIGHTLINE_BIN;
const OPERATOR = { email: "ops@example.com", password: "an operator's long passphrase" };

let sl, receiver, receiverUrl, browser, ctx, page, call, orgId, siteId, siteKey;

/**
 * The receiver: answers `mode.status` (200 by default) and keeps every
 * request with its headers and raw body.
 */
const mode = { status: 200, body: "ok" };
const received = [];

/** verify checks a Standard Webhooks signature header against a whsec_ secret; it answers whether one v1 signature matches. */
function verify(secret, headers, body) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const id = headers["webhook-id"];
  const ts = headers["webhook-timestamp"];
  if (!id || !ts) return false;
  const want = createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest();
  return String(headers["webhook-signature"] ?? "")
    .split(" ")
    .filter((s) => s.startsWith("v1,"))
    .some((s) => {
      const got = Buffer.from(s.slice(3), "base64");
      return got.length === want.length && timingSafeEqual(got, want);
    });
}

before(async () => {
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build) to run the notify end-to-end test");
  mkdirSync(shots, { recursive: true });
  console.log(`notify screenshots: ${shots}`);
  const fx = await serveFixture((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), answered: mode.status });
      res.writeHead(mode.status, { "Content-Type": "text/plain" }).end(mode.body);
    });
  });
  receiver = fx.server;
  receiverUrl = `http://127.0.0.1:${fx.port}/hooks/sightline`;

  // Webhook targets on 127.0.0.1 are refused unless the operator allows them.
  sl = await startSightline(bin, ["-notify.webhook.allow-private=true"], {
    prepare: (run) => createOperator(run, OPERATOR),
  });
  browser = await launchChromium();
  ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  ({ call, orgId } = await logIn(ctx, sl.base, OPERATOR));
  ({ siteId, siteKey } = await createSite(call, orgId));
  page = await ctx.newPage();
  // Confirmations (rotate, delete) are accepted; each test says which it expects.
  page.on("dialog", (d) => void d.accept());
});

after(async () => {
  await browser?.close();
  receiver?.close();
  if (process.exitCode && sl) console.log(sl.log().slice(-4000));
  await sl?.stop();
});

const sitePage = (p) => `${sl.base}/o/${orgId}/sites/${siteId}/${p}`;

/** axe answers the serious and critical axe violations of url in light and dark (a11y.e2e checks these pages empty; here they are filled). */
const axe = (url, ready) => axeViolations(browser, ctx, url, ready);

/** newest answers the newest delivery row of the open log. */
const newest = () => page.locator("[data-testid=delivery]").first();

async function waitForState(row, label, timeoutMs = 30_000) {
  await waitFor(async () => (await row.locator("[data-testid=delivery-state]").innerText()) === label, `a delivery to read ${label}`, timeoutMs);
}

test("webhooks: add, test event signed and logged, failure retried, redeliver, rotate, disable, enable, edit, delete", { timeout: 240_000 }, async () => {
  await page.goto(sitePage("settings/webhooks"));
  await page.getByTestId("webhooks-empty").waitFor();

  // Add: the form checks the URL first, then the secret is shown once.
  await page.getByTestId("add-webhook").click();
  const form = page.getByTestId("webhook-form");
  await form.getByLabel("Endpoint URL").fill("not a url");
  await form.getByRole("button", { name: "Add webhook" }).click();
  await form.getByText("Enter a full URL").waitFor();
  await form.getByLabel("Endpoint URL").fill(receiverUrl);
  await form.getByLabel(/Description/).fill("E2E receiver");
  await form.getByRole("button", { name: "Add webhook" }).click();
  const secret = (await page.getByTestId("webhook-secret-value").innerText()).trim();
  assert.match(secret, /^whsec_[A-Za-z0-9+/=]+$/, "the signing secret is shown once, in the whsec_ form");
  await page.getByTestId("webhook-secret").getByText("won't be shown again").waitFor();
  await page.getByRole("button", { name: "I've stored it" }).click();
  assert.equal(await page.getByTestId("webhook-secret").count(), 0);
  const card = page.getByTestId("webhook");
  assert.equal(await card.count(), 1);
  assert.equal(await card.getByTestId("webhook-state").innerText(), "Enabled");
  const webhookId = await card.getAttribute("data-webhook-id");
  const hooks = (await call("GET", `/api/v1/sites/${siteId}/webhooks`)).json().webhooks;
  assert.deepEqual(hooks.map((h) => [h.url, h.description, h.enabled]), [[receiverUrl, "E2E receiver", true]]);
  assert.deepEqual([...hooks[0].events].sort(), ["feedback.created", "session.ended", "site.no_data", "survey.response.created"]);

  // Send test event: the receiver gets it signed with the secret; the log says Succeeded.
  await card.getByRole("button", { name: "Send test event" }).click();
  const first = await waitFor(() => received.find((r) => JSON.parse(r.body || "{}").type === "webhook.test"), "the test event at the receiver");
  assert.ok(verify(secret, first.headers, first.body), `the test event is signed with the secret: ${JSON.stringify(first.headers)}`);
  assert.equal(first.headers["content-type"]?.split(";")[0], "application/json");
  assert.ok(Math.abs(Number(first.headers["webhook-timestamp"]) - Date.now() / 1000) < 120, "webhook-timestamp is now, in seconds");
  await waitForState(newest(), "Succeeded");
  assert.equal(await newest().locator("[data-testid=delivery-status]").innerText(), "200");
  // The row opens to the payload (pretty-printed) and the receiver's answer.
  await newest().getByRole("button", { name: /Show the payload/ }).click();
  const payload = await page.getByTestId("delivery-payload").innerText();
  assert.match(payload, /\n {2}"type": "webhook\.test"/, "the payload is indented JSON");
  assert.equal(JSON.parse(payload).type, "webhook.test");
  assert.equal((await page.getByTestId("delivery-response").innerText()).trim(), "ok");
  await page.screenshot({ path: path.join(shots, "webhooks-delivered.png"), fullPage: true });

  // The receiver fails: the log says Retrying, with the status and the error.
  mode.status = 500;
  mode.body = "receiver down";
  const before500 = received.length;
  await card.getByRole("button", { name: "Send test event" }).click();
  await waitFor(() => received.length > before500, "the failing attempt at the receiver");
  await waitFor(async () => (await page.locator("[data-testid=delivery]").count()) === 2, "the second delivery in the log");
  await waitForState(newest(), "Retrying");
  assert.equal(await newest().locator("[data-testid=delivery-status]").innerText(), "500");
  assert.ok((await newest().locator("[data-testid=delivery-error]").innerText()).length > 0, "the last error is shown");
  const failedId = received.at(-1).headers["webhook-id"];
  await page.screenshot({ path: path.join(shots, "webhooks-retrying.png"), fullPage: true });

  // Redeliver the failed delivery once the receiver is back: same webhook-id, a new delivery that succeeds.
  mode.status = 200;
  mode.body = "ok";
  await newest().getByRole("button", { name: /^Redeliver/ }).click();
  await waitFor(async () => (await page.locator("[data-testid=delivery]").count()) >= 3, "the redelivery in the log");
  const again = await waitFor(() => received.find((r, i) => i > before500 && r.headers["webhook-id"] === failedId && r.answered === 200), "the redelivery at the receiver");
  assert.ok(verify(secret, again.headers, again.body), "the redelivery is signed");
  await waitForState(newest(), "Succeeded");

  // Rotate: a new secret, shown once; deliveries carry a signature with each for 24 h.
  await card.getByRole("button", { name: "Rotate secret" }).click();
  await page.getByTestId("webhook-secret").getByText("old secret keeps working for 24 hours").waitFor();
  const rotated = (await page.getByTestId("webhook-secret-value").innerText()).trim();
  assert.match(rotated, /^whsec_/);
  assert.notEqual(rotated, secret);
  await page.getByRole("button", { name: "I've stored it" }).click();
  const beforeRotated = received.length;
  await card.getByRole("button", { name: "Send test event" }).click();
  const signedTwice = await waitFor(() => received.slice(beforeRotated).find((r) => r.answered === 200), "a delivery after the rotation");
  assert.ok(verify(rotated, signedTwice.headers, signedTwice.body), "signed with the new secret");
  assert.ok(verify(secret, signedTwice.headers, signedTwice.body), "and, for 24 h, with the old one");

  // Disable and enable.
  await card.getByRole("button", { name: "Disable", exact: true }).click();
  await waitFor(async () => (await card.getByTestId("webhook-state").innerText()) === "Disabled", "the webhook to read Disabled");
  assert.ok(await card.getByRole("button", { name: "Send test event" }).isDisabled(), "a disabled webhook sends no test event");
  await card.getByRole("button", { name: "Enable", exact: true }).click();
  await waitFor(async () => (await card.getByTestId("webhook-state").innerText()) === "Enabled", "the webhook to read Enabled");

  // Edit: only what changed is sent, and the list follows.
  await card.getByRole("button", { name: "Edit" }).click();
  await card.getByLabel(/Description/).fill("Order bridge");
  await card.getByLabel(/Survey answered/).uncheck();
  await card.getByRole("button", { name: "Save changes" }).click();
  await card.getByRole("heading", { name: "Order bridge" }).waitFor();
  const edited = (await call("GET", `/api/v1/sites/${siteId}/webhooks`)).json().webhooks[0];
  assert.equal(edited.description, "Order bridge");
  assert.deepEqual([...edited.events].sort(), ["feedback.created", "session.ended", "site.no_data"]);
  assert.equal(edited.url, receiverUrl);
  await page.screenshot({ path: path.join(shots, "webhooks.png"), fullPage: true });
  assert.deepEqual(await axe(sitePage(`settings/webhooks?webhook=${webhookId}`), "[data-testid=delivery]"), [], "the webhooks page with its log passes axe");

  // A second webhook is deleted with its confirmation.
  const other = await call("POST", `/api/v1/sites/${siteId}/webhooks`, { url: `${receiverUrl}/other`, events: ["site.no_data"], description: "To delete" });
  assert.equal(other.status, 200, other.text);
  await page.reload();
  await waitFor(async () => (await page.getByTestId("webhook").count()) === 2, "two webhooks listed");
  const doomed = page.locator(`[data-webhook-id="${other.json().webhook.id}"]`);
  await doomed.getByRole("button", { name: "Delete" }).click();
  await waitFor(async () => (await page.getByTestId("webhook").count()) === 1, "the deleted webhook to go");
  assert.equal(await page.locator(`[data-webhook-id="${webhookId}"]`).count(), 1, "the other webhook stays");
});

test("notification settings: digest saved and reloaded; an alert rule added, edited, deleted", { timeout: 120_000 }, async () => {
  await page.goto(sitePage("settings/notifications"));
  const digest = page.getByTestId("digest");
  await digest.waitFor();
  assert.ok(await digest.getByLabel(/^Off/).isChecked(), "never set reads Off");
  await digest.getByLabel(/^Daily/).check();
  await page.getByTestId("digest-status").getByText("Saved.").waitFor();
  await page.reload();
  await page.getByTestId("digest").waitFor();
  assert.ok(await page.getByTestId("digest").getByLabel(/^Daily/).isChecked(), "Daily survives a reload");
  assert.equal((await call("GET", `/api/v1/sites/${siteId}/digest`)).json().frequency, "DIGEST_FREQUENCY_DAILY");

  // Add: the form refuses what notify.proto does not allow before asking.
  await page.getByTestId("add-alert").click();
  const form = page.getByTestId("alert-form");
  await form.getByLabel("Hours without data").fill("0");
  await form.getByRole("button", { name: "Add alert" }).click();
  await form.getByText("between 1 and 168").waitFor();
  await form.getByLabel("Rage clicks spike").check();
  await form.getByLabel("Times the usual hourly rate").fill("4");
  await form.getByLabel("At least this many sessions").fill("7");
  await form.getByRole("button", { name: "Add alert" }).click();
  const rule = page.getByTestId("alert-rule");
  await rule.getByText("Tell me when sessions with rage clicks reach 4× the usual hourly rate (at least 7)").waitFor();
  let rules = (await call("GET", `/api/v1/sites/${siteId}/alert-rules`)).json().rules;
  assert.equal(rules.length, 1);
  assert.deepEqual(rules[0].rageClicks, { factor: 4, minSessions: 7 });
  assert.equal(rules[0].enabled, true);

  // Edit.
  await rule.getByRole("button", { name: /^Edit/ }).click();
  await page.getByTestId("alert-form").getByLabel("At least this many sessions").fill("9");
  await page.getByTestId("alert-form").getByRole("button", { name: "Save alert" }).click();
  await page.getByTestId("alert-rule").getByText("(at least 9)").waitFor();
  rules = (await call("GET", `/api/v1/sites/${siteId}/alert-rules`)).json().rules;
  assert.deepEqual(rules[0].rageClicks, { factor: 4, minSessions: 9 });

  // A feedback rule in the same sentence form.
  await page.getByTestId("add-alert").click();
  await page.getByTestId("alert-form").getByLabel("Feedback or survey answer").check();
  await page.getByTestId("alert-form").getByLabel(/Comment contains/).fill("broken");
  await page.getByTestId("alert-form").getByRole("button", { name: "Add alert" }).click();
  await page.getByText("Tell me about every feedback or survey answer rated 2 or lower, containing “broken”").waitFor();
  await page.screenshot({ path: path.join(shots, "notifications.png"), fullPage: true });
  assert.deepEqual(await axe(sitePage("settings/notifications"), "[data-testid=alert-rule]"), [], "the notification settings pass axe");

  // Delete both (confirmations accepted).
  for (let n = 2; n > 0; n--) {
    await page.getByTestId("alert-rule").first().getByRole("button", { name: /^Delete/ }).click();
    await waitFor(async () => (await page.getByTestId("alert-rule").count()) === n - 1, "the rule to go");
  }
  await page.getByTestId("alerts-empty").waitFor();
  assert.deepEqual((await call("GET", `/api/v1/sites/${siteId}/alert-rules`)).json().rules ?? [], []);
  await page.getByTestId("fired-empty").waitFor();

  // An e-mail's link without the organisation lands on the same page.
  await page.goto(`${sl.base}/sites/${siteId}/settings/notifications`);
  await page.waitForURL(`**/o/${orgId}/sites/${siteId}/settings/notifications`);
  await page.getByTestId("digest").waitFor();
});

test("the operator's outbox lists the verification e-mail of a second sign-up and shows it", { timeout: 120_000 }, async () => {
  const anon = await browser.newContext();
  try {
    const r = await anon.request.post(`${sl.base}/api/v1/auth/signup`, {
      data: { email: "second@example.com", password: "a long enough passphrase 42", name: "Second", organizationName: "Second" },
    });
    assert.equal(r.status(), 200, await r.text());
  } finally {
    await anon.close();
  }
  const listed = await waitFor(async () => {
    const r = await call("GET", "/api/v1/admin/outbox");
    return r.status === 200 && r.json().emails?.find((m) => m.to?.includes("second@example.com"));
  }, "the e-mail to second@example.com in the outbox", 60_000);
  assert.equal(listed.kind, "verify_email");

  await page.goto(`${sl.base}/admin/outbox`);
  const row = page.getByTestId("outbox-row").filter({ hasText: "second@example.com" });
  await row.waitFor();
  await row.getByRole("button").click();
  const view = page.getByTestId("outbox-email");
  const frame = view.getByTestId("outbox-html");
  await frame.waitFor();
  assert.equal(await frame.getAttribute("sandbox"), "", "the e-mail's HTML runs in a sandbox with no permissions");
  assert.match(await frame.getAttribute("srcdoc"), /verify-email\?token=/);
  const inner = page.frameLocator("[data-testid=outbox-html]");
  assert.ok((await inner.locator("a[href*='verify-email?token=']").count()) > 0, "the HTML part links to /verify-email");
  await page.screenshot({ path: path.join(shots, "outbox.png"), fullPage: true });
  assert.deepEqual(await axe(`${sl.base}/admin/outbox?id=${encodeURIComponent(listed.id)}`, "[data-testid=outbox-html]"), [], "the outbox with an e-mail open passes axe");
  await view.getByRole("tab", { name: "Text" }).click();
  assert.match(await view.getByTestId("outbox-text").innerText(), /\/verify-email\?token=\S+/);
  assert.ok(new URL(page.url()).searchParams.get("id"), "the open e-mail is in the URL");
});

test("a viewer reads webhooks and their deliveries but changes none (the API answers 403), and sets their own digest", { timeout: 120_000 }, async () => {
  // second@example.com (signed up above) verifies through the e-mailed link's token and joins as a viewer.
  const mail = (await call("GET", "/api/v1/admin/outbox")).json().emails.find((m) => m.to?.includes("second@example.com") && m.kind === "verify_email");
  const text = (await call("GET", `/api/v1/admin/outbox/${encodeURIComponent(mail.id)}`)).json().email.textBody;
  const token = new URL(/https?:\/\/\S*\/verify-email\?token=\S+/.exec(text)[0]).searchParams.get("token");
  const vctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  try {
    const verified = await vctx.request.post(`${sl.base}/api/v1/auth/verify-email`, { data: { token } });
    assert.equal(verified.status(), 200, await verified.text());
    const login = await vctx.request.post(`${sl.base}/api/v1/auth/login`, { data: { email: "second@example.com", password: "a long enough passphrase 42" } });
    assert.equal(login.status(), 200, await login.text());
    const invite = await call("POST", `/api/v1/organizations/${orgId}/invitations`, { email: "second@example.com", role: "ROLE_VIEWER" });
    assert.equal(invite.status, 200, invite.text);
    const viewer = apiCaller(vctx, sl.base);
    const accepted = await viewer("POST", "/api/v1/invitations:accept", { token: invite.json().token });
    assert.equal(accepted.status, 200, accepted.text);

    const vp = await vctx.newPage();
    await vp.goto(sitePage("settings/webhooks"));
    await vp.getByTestId("webhooks-readonly").waitFor();
    const card = vp.getByTestId("webhook");
    await card.first().waitFor();
    assert.equal(await vp.getByTestId("add-webhook").count(), 0, "no Add for a viewer");
    for (const name of ["Send test event", "Edit", "Disable", "Rotate secret", "Delete"]) {
      assert.equal(await card.getByRole("button", { name, exact: true }).count(), 0, `no ${name} for a viewer`);
    }
    await card.getByTestId("toggle-deliveries").click();
    await vp.getByTestId("delivery").first().waitFor();
    assert.equal(await vp.getByRole("button", { name: /^Redeliver/ }).count(), 0, "no Redeliver for a viewer");
    await vp.screenshot({ path: path.join(shots, "webhooks-viewer.png"), fullPage: true });
    const refused = await viewer("POST", `/api/v1/sites/${siteId}/webhooks`, { url: receiverUrl, events: ["site.no_data"] });
    assert.equal(refused.status, 403, refused.text);

    // Digests and alerts are each person's own e-mails: a viewer sets theirs, and only theirs.
    await vp.goto(sitePage("settings/notifications"));
    await vp.getByTestId("digest").getByLabel(/^Weekly/).check();
    await vp.getByTestId("digest-status").getByText("Saved.").waitFor();
    assert.equal((await viewer("GET", `/api/v1/sites/${siteId}/digest`)).json().frequency, "DIGEST_FREQUENCY_WEEKLY");
    assert.equal((await call("GET", `/api/v1/sites/${siteId}/digest`)).json().frequency, "DIGEST_FREQUENCY_DAILY", "the operator's own digest is unchanged");
    assert.equal(await vp.getByTestId("notifications-readonly").count(), 0);
    await vp.getByTestId("add-alert").waitFor();
  } finally {
    await vctx.close();
  }
});

test("a feedback alert fires from a real answer; its e-mail's unsubscribe link turns the alert off without logging in", { timeout: 180_000 }, async () => {
  const created = await call("POST", `/api/v1/sites/${siteId}/alert-rules`, { rule: { enabled: true, answer: { maxRating: 2, maxNps: -1, textContains: "" } } });
  assert.equal(created.status, 200, created.text);
  const ruleId = created.json().rule.id;

  // A visitor's unhappy feedback through ingest's intake, as the widget sends it.
  const now = Date.now();
  const answer = {
    v: 1, siteKey, sessionId: `s_e2enotify${now}`, visitorId: "v_VmlzaXRvcklkZW50aWZpZXI", pageViewId: "p_UGFnZVZpZXdJZGVudGlmaWVy",
    id: `a_e2enotify${String(now).padStart(18, "0")}`, clientTime: now, recorded: false,
    page: { url: "http://localhost/checkout", viewport: { w: 1280, h: 720 } },
    kind: "feedback", rating: 1, comment: "The checkout button does nothing", language: "en",
  };
  const r = await fetch(`${sl.base}/i/v1/answer?k=${siteKey}`, { method: "POST", headers: { "Content-Type": "text/plain", Origin: "http://localhost" }, body: JSON.stringify(answer) });
  assert.ok(r.status === 204 || r.status === 200, `ingest took the answer: ${r.status} ${await r.text()}`);

  // Stored by recordings and searchable (so a missing e-mail is notify's path, not the intake's).
  await waitFor(async () => {
    const found = await call("POST", `/api/v1/sites/${siteId}/answers:search`, { pageSize: 10 });
    return found.status === 200 && found.json().answers?.some((a) => a.id === answer.id);
  }, "the answer to be stored and searchable", 60_000);
  // The alert e-mail lands in the outbox, and the fired alert is listed.
  const mail = await waitFor(async () => {
    const list = await call("GET", "/api/v1/admin/outbox");
    return list.status === 200 && list.json().emails?.find((m) => m.kind === "alert" && m.to?.includes(OPERATOR.email));
  }, "the alert e-mail in the outbox", 120_000);
  const full = (await call("GET", `/api/v1/admin/outbox/${encodeURIComponent(mail.id)}`)).json().email;
  const link = /https?:\/\/[^\s"<>]*\/unsubscribe\?token=[^\s"<>]+/.exec(full.textBody ?? "")?.[0];
  assert.ok(link, `the alert e-mail carries an unsubscribe link:\n${full.textBody}`);

  await page.goto(sitePage("settings/notifications"));
  const fired = page.getByTestId("fired-alerts");
  await fired.waitFor();
  assert.match(await fired.innerText(), /Answer/);
  await page.screenshot({ path: path.join(shots, "notifications-fired.png"), fullPage: true });
  // Its link (/sites/{site}/…, without the organisation) opens the matching answers in this dashboard.
  await fired.getByRole("link", { name: /^See the/ }).first().click();
  await page.waitForURL(new RegExp(`/o/${orgId}/sites/${siteId}/(feedback|recordings)`));

  // The link, opened without a session: nothing changes until the button.
  const anon = await browser.newContext();
  try {
    const p = await anon.newPage();
    const u = new URL(link);
    await p.goto(`${sl.base}${u.pathname}${u.search}`);
    await p.getByTestId("unsubscribe-button").waitFor();
    assert.equal((await call("GET", `/api/v1/sites/${siteId}/alert-rules`)).json().rules.find((x) => x.id === ruleId)?.enabled, true, "opening the link changes nothing");
    await p.getByTestId("unsubscribe-button").click();
    const done = await p.getByTestId("unsubscribe-done").innerText();
    assert.equal(done, "You will no longer get this alert for Teapot shop.");
    await p.screenshot({ path: path.join(shots, "unsubscribed.png") });
  } finally {
    await anon.close();
  }
  const after = (await call("GET", `/api/v1/sites/${siteId}/alert-rules`)).json().rules?.find((x) => x.id === ruleId);
  assert.ok(!after?.enabled, "the alert is off (protojson omits false)");
});

test("unsubscribe: nothing happens on GET; a bad link says so after the POST; a missing token without asking", { timeout: 60_000 }, async () => {
  const anon = await browser.newContext();
  try {
    const p = await anon.newPage();
    const posts = [];
    p.on("request", (req) => {
      if (new URL(req.url()).pathname === "/api/v1/unsubscribe") posts.push(req.method());
    });
    await p.goto(`${sl.base}/unsubscribe?token=not-a-real-token`);
    const button = p.getByTestId("unsubscribe-button");
    await button.waitFor();
    await p.waitForTimeout(500);
    assert.deepEqual(posts, [], "opening the link (as a mail scanner would) sends nothing");
    await button.click();
    await p.getByRole("alert").waitFor();
    assert.deepEqual(posts, ["POST"]);
    const message = await p.getByRole("alert").innerText();
    assert.ok(message.length > 0 && !/undefined/.test(message), `a readable error: ${message}`);
    assert.equal(await p.getByTestId("unsubscribe-done").count(), 0);
    await p.screenshot({ path: path.join(shots, "unsubscribe-bad-token.png") });

    await p.goto(`${sl.base}/unsubscribe`);
    await p.getByTestId("unsubscribe-bad-link").waitFor();
    assert.equal(await p.getByTestId("unsubscribe-button").count(), 0);
  } finally {
    await anon.close();
  }
});
