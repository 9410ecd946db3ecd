// What the dashboard's end-to-end tests share: loopback ports, polling
// until a condition holds, the running binary, Chromium, a fixture site, a
// signed-in user with a site, and axe.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startedOnceMore } from "../../tracker/e2e/browser.mjs";
import { startedLine } from "../../tracker/e2e/started.mjs";

export { startedOnceMore };

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * stablePort answers a loopback port below the kernel's ephemeral range that nothing listens on,
 * for a server stopped and started again on the same port (as internal/loopback does for the Go
 * tests): an ephemeral port can be taken while its server is down, by another listener on port 0
 * or as an outgoing connection's local port; a port below the range only by a bind that names it.
 */
export async function stablePort() {
  let high = 32768;
  try {
    const [lo] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (lo > 12000) high = lo;
  } catch {
    /* Linux's default */
  }
  for (let i = 0; i < 200; i++) {
    const port = 10000 + Math.floor(Math.random() * (high - 10000));
    const free = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port in [10000, ${high}) in 200 tries`);
}

/** waitFor polls fn every 250 ms until it answers something truthy, which it returns. */
export async function waitFor(fn, what, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

/**
 * leave closes a visitor's page as a visitor leaves it: beforeunload and pagehide run, and the
 * tracker's last batch goes out with sendBeacon. close({ runBeforeUnload }) alone does not wait
 * for the page to go; closing its context meanwhile can cancel that beacon in flight, so this
 * waits for the close. A caller that needs the last batch keeps the context open until it has
 * seen it stored.
 */
export async function leave(page) {
  const closed = page.waitForEvent("close");
  await page.close({ runBeforeUnload: true });
  await closed;
}

/**
 * startSightline runs `sightline serve` (every service in one process,
 * embedded storage) on free loopback ports and answers its dashboard origin
 * (http://localhost:port), the running process, its log and stop().
 * prepare, if given, runs first with a function that runs operator commands
 * (`migrate`, `admin create-user …`) against the same data directory.
 */
export async function startSightline(bin, extraArgs = [], { prepare } = {}) {
  const { spawn, execFileSync } = await import("node:child_process");
  const { mkdtempSync, rmSync } = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "sightline-e2e-"));
  if (prepare) await prepare((...args) => execFileSync(bin, [...args, "-data-dir", dataDir], { encoding: "utf8", stdio: "pipe" }));
  // Every listener on port 0: startedLine (tracker/e2e/started.mjs) says where it is.
  const log = [];
  const proc = spawn(bin, [
    "serve",
    "-data-dir", dataDir,
    "-server.http-listen-address", "127.0.0.1:0",
    "-server.grpc-listen-address", "127.0.0.1:0",
    "-admin.listen-address", "127.0.0.1:0",
    ...extraArgs,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  for (const s of [proc.stdout, proc.stderr]) s.on("data", (d) => log.push(String(d)));
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  let addrs;
  try {
    addrs = await waitFor(() => {
      if (proc.exitCode !== null) return { exited: true };
      return startedLine(log.join(""));
    }, "sightline serve to start", 60_000);
    if (addrs.exited) throw new Error(`sightline exited: ${log.join("").slice(-2000)}`);
    await waitFor(async () => (await fetch(`http://${addrs.admin}/readyz`)).ok, "sightline serve to become ready", 30_000);
  } catch (e) {
    await stop();
    throw e;
  }
  const base = `http://localhost:${new URL(`http://${addrs.http}`).port}`;
  dataDirs.set(base, dataDir);
  return { base, admin: `http://${addrs.admin}`, dataDir, proc, log: () => log.join(""), stop };
}

/** dataDirs maps a running sightline's dashboard origin to its data directory (for its e-mail outbox). */
const dataDirs = new Map();

/**
 * outboxToken waits for the newest e-mail to `email` in the outbox of the
 * sightline at base (notify writes `<data-dir>/outbox/*.eml` when no SMTP
 * server is configured) whose link is `/<page>?token=…`, and answers the
 * token: the way a person follows the e-mail.
 */
export async function outboxToken(base, email, page) {
  const { readdirSync, readFileSync } = await import("node:fs");
  const path = await import("node:path");
  const dir = path.join(dataDirs.get(base) ?? "", "outbox");
  const link = new RegExp(`/${page}\\?token=([A-Za-z0-9_-]+)`);
  return waitFor(() => {
    let names = [];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith(".eml")).sort().reverse(); // names start with the time
    } catch {
      return undefined;
    }
    for (const name of names) {
      // Undo quoted-printable soft breaks and "=3D" so the link reads whole.
      const raw = readFileSync(path.join(dir, name), "utf8").replace(/=\r?\n/g, "").replace(/=3D/gi, "=");
      const to = /^To:.*$/im.exec(raw)?.[0] ?? "";
      const m = link.exec(raw);
      if (to.toLowerCase().includes(email.toLowerCase()) && m) return m[1];
    }
    return undefined;
  }, `an e-mail to ${email} linking to /${page} in ${dir}`, 60_000);
}

/**
 * signUp makes a user (and organisation) through the REST API inside a
 * browser context, so the context's pages are signed in as that user; call
 * sends further API requests as them (with the CSRF header). The instance's
 * first user is logged in at once; anyone after confirms their address by
 * following the verification e-mail from the outbox.
 */
export async function signUp(ctx, base, email) {
  const r = await ctx.request.post(`${base}/api/v1/auth/signup`, {
    data: { email, password: "a long enough passphrase 42", name: "E2E", organizationName: "E2E" },
  });
  if (!r.ok()) throw new Error(`sign-up: ${r.status()} ${await r.text()}`);
  const body = await r.json();
  if (!body.verificationRequired) return { orgId: body.organization.id, call: apiCaller(ctx, base) };
  const token = await outboxToken(base, email, "verify-email");
  const v = await ctx.request.post(`${base}/api/v1/auth/verify-email`, { data: { token } });
  if (!v.ok()) throw new Error(`verify e-mail: ${v.status()} ${await v.text()}`);
  const call = apiCaller(ctx, base);
  const me = await call("GET", "/api/v1/me");
  if (me.status !== 200) throw new Error(`after verifying: /me ${me.status} ${me.text}`);
  return { orgId: me.json().memberships[0].organizationId, call };
}

/**
 * apiCaller answers call(method, path, body), which sends an API request as
 * the context's signed-in user (session cookie and the CSRF header).
 */
export function apiCaller(ctx, base) {
  return async (method, path, body) => {
    const csrf = (await ctx.cookies(base)).find((c) => c.name === "sl_csrf")?.value ?? "";
    const res = await ctx.request.fetch(`${base}${path}`, { method, headers: { "X-CSRF-Token": csrf }, data: body });
    const text = await res.text();
    return { status: res.status(), text, json: () => JSON.parse(text) };
  };
}

/**
 * DESKTOP_UA is a desktop Chrome's user agent: headless Chromium's own says
 * "HeadlessChrome", which ingest counts as a bot (not stored, not counted,
 * left out of heatmaps).
 */
export const DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/**
 * launchChromium starts Debian's Chromium ($CHROMIUM to override) headless, without background
 * traffic; userAgent, when given, is every tab's (a tab a page opens with window.open too, which a
 * context's user agent would miss).
 */
export function launchChromium({ userAgent } = {}) {
  return startedOnceMore(() =>
    chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        ...(userAgent ? [`--user-agent=${userAgent}`] : []),
        "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
      ],
    }),
  );
}

/**
 * serveFixture serves a visited site on a free loopback port: every request
 * gets handle(req, res, origin). It answers the origin (http://localhost:port,
 * a host name a site's domain can name), the port and the server.
 */
export async function serveFixture(handle) {
  let origin = "";
  const server = http.createServer((req, res) => handle(req, res, origin));
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  origin = `http://localhost:${port}`;
  return { origin, port, server };
}

/** serveHtml is serveFixture answering html() (read at each request: it may name a site key set later) on every path. */
export function serveHtml(html) {
  return serveFixture((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(html());
  });
}

/** createSite makes a site (by default "Teapot shop" on localhost) in the organisation as call's user, and answers its id and key. */
export async function createSite(call, orgId, site = { name: "Teapot shop", domains: ["localhost"] }) {
  const r = await call("POST", `/api/v1/organizations/${orgId}/sites`, site);
  assert.equal(r.status, 200, r.text);
  const { id, siteKey } = r.json().site;
  return { siteId: id, siteKey };
}

/**
 * browserWithSite launches Chromium, signs a new user up (email) in a context
 * with options (a 1400 × 1000 viewport unless they say otherwise), makes
 * their site with createSite, and opens a page in that context.
 */
export async function browserWithSite(base, email, options = {}) {
  const browser = await launchChromium();
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, ...options });
  const { orgId, call } = await signUp(ctx, base, email);
  const { siteId, siteKey } = await createSite(call, orgId);
  return { browser, ctx, orgId, call, siteId, siteKey, page: await ctx.newPage() };
}

/**
 * logIn logs the context in as an existing user (e.g. the operator made by
 * `admin create-user`) and answers the caller and the user's first organisation.
 */
export async function logIn(ctx, base, credentials) {
  const login = await ctx.request.post(`${base}/api/v1/auth/login`, { data: credentials });
  assert.equal(login.status(), 200, `log-in: ${await login.text()}`);
  const call = apiCaller(ctx, base);
  const me = (await call("GET", "/api/v1/me")).json();
  return { call, me, orgId: me.memberships[0].organizationId };
}

/** createOperator is a startSightline prepare step: it migrates and makes an operator with its organisation "Ops". */
export async function createOperator(run, { email, password }) {
  const { mkdtempSync, writeFileSync } = await import("node:fs");
  const os = await import("node:os");
  const pw = path.join(mkdtempSync(path.join(os.tmpdir(), "sightline-operator-")), "pw");
  writeFileSync(pw, password + "\n", { mode: 0o600 });
  run("migrate");
  run("admin", "create-user", "-email", email, "-password-file", pw, "-organization", "Ops", "-operator");
}

/**
 * signUpWithForms signs a new user up through the dashboard's sign-up form
 * and adds a site for domain through the form a new user lands on, leaving
 * the page at the install snippet.
 */
export async function signUpWithForms(page, base, email, domain) {
  await page.goto(`${base}/signup`);
  const form = page.getByTestId("signup-form");
  await form.locator("input[name=name]").fill("Ana");
  await form.locator("input[name=email]").fill(email);
  await form.locator("input[name=password]").fill("correct horse battery staple");
  await form.locator("button[type=submit]").click();
  const create = page.getByTestId("create-site-form");
  await create.waitFor();
  await create.locator("input[name=domain]").fill(domain);
  await create.locator("button[type=submit]").click();
  await page.getByTestId("install-snippet").waitFor();
}

const axeSource = readFileSync(path.resolve(here, "../node_modules/axe-core/axe.min.js"), "utf8");

/**
 * axeViolations opens url in a context that bypasses the dashboard's CSP
 * (axe is injected inline; the pages under test keep their CSP), signed in
 * as ctx's user, waits for ready, and answers the serious and critical
 * violations in light and dark.
 */
export async function axeViolations(browser, ctx, url, ready) {
  const actx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, bypassCSP: true, storageState: await ctx.storageState() });
  try {
    const ap = await actx.newPage();
    const out = [];
    for (const colorScheme of ["light", "dark"]) {
      await ap.emulateMedia({ colorScheme });
      await ap.goto(url);
      await ap.locator(ready).first().waitFor({ timeout: 20_000 });
      await ap.waitForTimeout(300);
      await ap.addScriptTag({ content: axeSource });
      const r = await ap.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
      for (const v of r.violations) if (v.impact === "serious" || v.impact === "critical") out.push(`${colorScheme} ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    }
    return out;
  } finally {
    await actx.close();
  }
}
