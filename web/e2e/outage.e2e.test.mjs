// End-to-end test of the dashboard during an outage of accounts' database
// (issue 20), in Debian's Chromium against the real binary: accounts runs on
// a real PostgreSQL; a user signs up and creates a site; PostgreSQL is
// stopped; the dashboard must keep the user signed in, keep what it shows,
// show the server's message in a banner, show a failed write inline, survive
// a reload; PostgreSQL is started again and the banner must go away by
// itself, with the page working again, without a reload.
//
//   SIGHTLINE_BIN=/path/to/sightline node --test e2e/outage.e2e.test.mjs
//
// Needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin, or PG_BIN);
// without them the test skips, except under CI=true where it fails. As root,
// PostgreSQL runs as the postgres OS user. Screenshots go to
// web/test-results/ (or SCREENSHOT_DIR).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium, signUpWithForms, stablePort, startSightline, waitFor } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const results = path.resolve(process.env.SCREENSHOT_DIR ?? path.join(here, "../test-results"));
const bin = process.env.SIGHTLINE_BIN;
// How long the banner may take to go once PostgreSQL answers again: the
// dashboard checks at most every 5 s (+ jitter), the gateway then answers.
const RECOVERY_MS = 10_000;
// How long PostgreSQL stays down (at least 10 s); OUTAGE_SECONDS=60 for the minute.
const OUTAGE_MS = Math.max(10, Number(process.env.OUTAGE_SECONDS) || 15) * 1000;

function pgBin() {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(root, versions[0], "bin") : undefined;
}

const PG = pgBin();
const skip = !PG && process.env.CI !== "true" ? "no PostgreSQL server binaries (apt-get install -y postgresql-15, or set PG_BIN)" : false;
const asRoot = process.getuid?.() === 0;

/** pg runs a PostgreSQL tool, as the postgres OS user when we are root. */
function pg(tool, args) {
  const exe = path.join(PG, tool);
  const [cmd, argv] = asRoot ? ["runuser", ["-u", "postgres", "--", exe, ...args]] : [exe, args];
  return execFileSync(cmd, argv, { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 }).toString();
}

let sl, browser, pgDir, pgData, pgPort, base;

function startPostgres() {
  pg("pg_ctl", [
    "-D", pgData,
    "-l", path.join(pgDir, "postgres.log"),
    "-w", "-t", "60",
    "-o", `-p ${pgPort} -k ${pgDir} -c listen_addresses=127.0.0.1 -F -c synchronous_commit=off`,
    "start",
  ]);
}

function stopPostgres(mode = "fast") {
  pg("pg_ctl", ["-D", pgData, "-m", mode, "-w", "-t", "60", "stop"]);
}

before(async () => {
  if (skip) return;
  assert.ok(bin, "set SIGHTLINE_BIN to the sightline binary (make build) to run the dashboard end-to-end test");
  mkdirSync(results, { recursive: true });

  // A throwaway PostgreSQL owned by the postgres OS user.
  pgDir = mkdtempSync(path.join(os.tmpdir(), "sightline-e2e-pg-"));
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
    chownSync(pgDir, uid, gid);
  }
  pgData = path.join(pgDir, "data");
  pg("initdb", ["-D", pgData, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]);
  // PostgreSQL comes back on its own port after the outage, as a real database does: a port below
  // the ephemeral range, which nothing takes while it is down. Another test's server could still
  // bind it between the check and PostgreSQL's start: pg_ctl then fails, and it tries another.
  for (let attempt = 1; ; attempt++) {
    pgPort = await stablePort();
    try {
      startPostgres();
      break;
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }

  sl = await startSightline(bin, ["-accounts.backend", "postgres", "-accounts.postgres.dsn", `postgres://postgres@127.0.0.1:${pgPort}/postgres?sslmode=disable`]);
  base = sl.base;

  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await sl?.stop();
  if (pgData) {
    try {
      stopPostgres("immediate");
    } catch {
      /* already stopped */
    }
  }
  if (pgDir) rmSync(pgDir, { recursive: true, force: true });
});

test("a PostgreSQL outage keeps the user signed in, shows a banner, and the dashboard recovers by itself", { skip, timeout: 120_000 + OUTAGE_MS }, async (t) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  const statuses = [];
  let phase = "before";
  page.on("response", (r) => r.url().includes("/api/v1/") && statuses.push(`${phase} ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`));
  t.after(() => ctx.close());
  t.after(() => {
    if (t.passed === false || process.env.VERBOSE) {
      console.log("API answers seen by the page:\n" + statuses.join("\n"));
      console.log("sightline log (warnings and errors):\n" + sl.log().split("\n").filter((l) => /"level":"(WARN|ERROR)"/.test(l)).slice(-40).join("\n"));
    }
  });

  // Sign up and add a site while everything is up.
  const email = `ana-${Date.now()}@example.com`;
  await signUpWithForms(page, base, email, "shop.example.com");

  // The main navigation's "Sites" (the sidebar; on a phone it sits behind the menu button).
  const sitesLink = () => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Sites", exact: true });

  // The site list, as the user sees it before the outage.
  await sitesLink().click();
  await page.getByTestId("site-row").first().waitFor();
  assert.equal(await page.getByTestId("site-row").count(), 1);
  const userName = page.locator(".user-name");
  assert.match(await userName.innerText(), /Ana/);

  const stillSignedIn = async (where) => {
    assert.doesNotMatch(new URL(page.url()).pathname, /^\/login/, `${where}: sent to log in`);
    assert.equal(await page.getByTestId("login-form").count(), 0, `${where}: log-in form shown`);
    assert.match(await userName.innerText(), /Ana/, `${where}: user not shown`);
  };

  // Accounts' database goes away.
  stopPostgres("fast");
  const downAt = Date.now();
  phase = "during";

  // A write fails inline, with the server's message and a trace reference.
  await page.getByTestId("add-site").click();
  const addForm = page.getByTestId("create-site-form");
  await addForm.locator("input[name=domain]").fill("blog.example.com");
  await addForm.locator("button[type=submit]").click();
  const inline = addForm.locator(".error-box");
  await inline.or(page.getByTestId("login-form")).waitFor({ timeout: 15_000 });
  await stillSignedIn("after a write failed");
  const inlineText = await inline.innerText();
  assert.match(inlineText, /unreachable|unavailable/i, `inline error: ${inlineText}`);
  assert.doesNotMatch(inlineText, /log in|session expired/i, `inline error: ${inlineText}`);
  assert.match(inlineText, /\(ref [0-9a-f]{16}\)/, `inline error without the trace reference: ${inlineText}`);

  // The banner: the server's message, and that it checks again by itself.
  const banner = page.getByTestId("outage-banner");
  await banner.waitFor({ timeout: 15_000 });
  const message = await page.getByTestId("outage-message").innerText();
  assert.match(message, /accounts/i, `banner message: ${message}`);
  assert.match(message, /unreachable|unavailable/i, `banner message: ${message}`);
  assert.match(message, /recordings are still being collected/i, `banner message: ${message}`);
  assert.match(await page.getByTestId("outage-retry").innerText(), /Checking again/);

  // Still signed in, and what was on screen is still there.
  await stillSignedIn("after the failed write");
  assert.equal(await page.getByTestId("site-row").count(), 1, "the site list is kept");

  // Several checks later (backoff honouring Retry-After) it is still down,
  // and still signed in.
  await page.waitForTimeout(Math.max(0, OUTAGE_MS - 3_000 - (Date.now() - downAt)));
  assert.ok(await banner.isVisible(), "the banner stays while the database is down");
  await stillSignedIn(`${Math.round((Date.now() - downAt) / 1000)} s into the outage`);
  await page.screenshot({ path: path.join(results, "outage-during.png"), fullPage: true });

  // A reload during the outage does not sign the user out either: the page
  // shows the user (if the gateway still answers /me from its cache of
  // recently validated sessions) or waits for an answer; never the log-in.
  await page.reload();
  await banner.waitFor({ timeout: 15_000 });
  await page.waitForTimeout(1500);
  assert.doesNotMatch(new URL(page.url()).pathname, /^\/login/, "after a reload: sent to log in");
  assert.equal(await page.getByTestId("login-form").count(), 0, "after a reload: log-in form shown");
  const shown = (await userName.count()) > 0 ? await userName.innerText() : await page.locator(".spinner").innerText();
  assert.match(shown, /Ana|Waiting for Sightline/, `after a reload: neither the user nor the wait is shown: ${shown}`);
  await page.screenshot({ path: path.join(results, "outage-during-reload.png"), fullPage: true });

  // The database is back: the banner goes by itself and the page works.
  await page.waitForTimeout(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
  startPostgres();
  const upAt = Date.now();
  phase = "after";
  await banner.waitFor({ state: "detached", timeout: RECOVERY_MS });
  const tookMs = Date.now() - upAt;
  t.diagnostic(`banner gone ${tookMs} ms after PostgreSQL answered again (outage ${Math.round((upAt - downAt) / 1000)} s)`);
  await stillSignedIn("after recovery");
  await page.getByTestId("site-row").first().waitFor({ timeout: 10_000 });

  // Writes work again, without a reload.
  await page.getByTestId("add-site").click();
  const again = page.getByTestId("create-site-form");
  await again.locator("input[name=domain]").fill("blog.example.com");
  await again.locator("button[type=submit]").click();
  await page.getByTestId("install-snippet").waitFor({ timeout: 15_000 });
  await sitesLink().click();
  await waitFor(async () => (await page.getByTestId("site-row").count()) === 2, "both sites in the list", 10_000);
  assert.equal(await page.getByTestId("outage-banner").count(), 0);
  await page.screenshot({ path: path.join(results, "outage-after.png"), fullPage: true });

  assert.deepEqual(pageErrors, []);
  // Not one 401 while the database was down, or after.
  assert.deepEqual(statuses.filter((s) => / 401 /.test(s) && !s.startsWith("before")), []);
});
