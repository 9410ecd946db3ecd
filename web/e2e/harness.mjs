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
  return { base, proc, log: () => log.join(""), stop };
}

/**
 * signUp makes a user (and organisation) through the REST API inside a
 * browser context, so the context's pages are signed in as that user; call
 * sends further API requests as them (with the CSRF header).
 */
export async function signUp(ctx, base, email) {
  const r = await ctx.request.post(`${base}/api/v1/auth/signup`, {
    data: { email, password: "a long enough passphrase 42", name: "E2E", organizationName: "E2E" },
  });
  if (!r.ok()) throw new Error(`sign-up: ${r.status()} ${await r.text()}`);
  const orgId = (await r.json()).organization.id;
  return { orgId, call: apiCaller(ctx, base) };
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
