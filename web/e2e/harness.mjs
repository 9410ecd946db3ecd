// What the dashboard's end-to-end tests share: free loopback ports and
// polling until a condition holds.
import net from "node:net";

/** freePort answers a loopback TCP port nothing listens on. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
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
  const [httpPort, grpcPort, adminPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const log = [];
  const proc = spawn(bin, [
    "serve",
    "-data-dir", dataDir,
    "-server.http-listen-address", `127.0.0.1:${httpPort}`,
    "-server.grpc-listen-address", `127.0.0.1:${grpcPort}`,
    "-admin.listen-address", `127.0.0.1:${adminPort}`,
    ...extraArgs,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  for (const s of [proc.stdout, proc.stderr]) s.on("data", (d) => log.push(String(d)));
  const base = `http://localhost:${httpPort}`;
  dataDirs.set(base, dataDir);
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`sightline exited: ${log.join("").slice(-2000)}`);
      return (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok;
    }, "sightline serve to become ready", 60_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { base, dataDir, proc, log: () => log.join(""), stop };
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
