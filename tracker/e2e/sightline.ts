// The real binary for the e2e tests: `sightline serve` (every service in one process, embedded
// storage) on free ports, a user signed up and a site for 127.0.0.1 made through the REST API, and
// a pass-through proxy as ingest's public URL that keeps every batch the browsers send, raw, with
// ingest's answer.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import httpMod from 'node:http';
import { gunzipSync } from 'node:zlib';
import { sleep } from './poll';
import { startedLine } from './started.mjs';

const repo = join(import.meta.dirname, '..', '..');
export { sleep };

export interface Captured {
  url: string;
  raw: Buffer;
  status: number;
}

/** capturedText is a captured batch's JSON, inflated when the tracker sent it gzip'd. */
export function capturedText(c: Captured): string {
  return (c.url.includes('ce=gzip') ? gunzipSync(c.raw) : c.raw).toString('utf8');
}

/** capturedEnvelope is a captured batch's envelope. */
export function capturedEnvelope(c: Captured): any {
  return JSON.parse(capturedText(c));
}

export interface Sightline {
  /** The REST API's origin. */
  api: string;
  /** Ingest's public URL: the proxy. */
  proxyOrigin: string;
  /** Every batch as a browser sent it, with ingest's answer. */
  captured: Captured[];
  site: { id: string; siteKey: string };
  /** The process's output so far. */
  logs(): string;
  /** call sends a request as the signed-up user (session cookie and CSRF header). */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }>;
  stop(): Promise<void>;
}

// startProxy passes everything through to target and keeps the batches.
function startProxy(target: () => string, captured: Captured[]): Promise<{ server: httpMod.Server; origin: string }> {
  const server = httpMod.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(parts);
      try {
        const headers: Record<string, string> = {};
        // Not accept-encoding: the browser's names zstd, which the binary then answers with and
        // Node's fetch does not decode; left out, fetch asks for what it decodes, and the answer
        // goes back decoded (content-encoding dropped below).
        for (const [k, v] of Object.entries(req.headers))
          if (typeof v === 'string' && k !== 'content-length' && k !== 'connection' && k !== 'accept-encoding') headers[k] = v;
        const r = await fetch(target() + req.url, { method: req.method, headers, body: raw.length ? raw : undefined });
        if (req.url!.startsWith('/i/v1/batch') && req.method === 'POST') captured.push({ url: req.url!, raw, status: r.status });
        const out: Record<string, string> = {};
        r.headers.forEach((v, k) => {
          if (k !== 'content-encoding' && k !== 'content-length' && k !== 'transfer-encoding') out[k] = v;
        });
        res.writeHead(r.status, out);
        res.end(Buffer.from(await r.arrayBuffer()));
      } catch (e) {
        res.writeHead(502);
        res.end(String(e));
      }
    });
  });
  return new Promise((ok) =>
    server.listen(0, '127.0.0.1', () => ok({ server, origin: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` })),
  );
}

/**
 * startSightline runs the binary (SIGHTLINE_BIN, which make test-e2e passes; run alone, it builds
 * its own), signs up `email` and makes a site for 127.0.0.1.
 */
export async function startSightline(email: string, organizationName: string): Promise<Sightline> {
  const dir = mkdtempSync(join(tmpdir(), 'sightline-e2e-'));
  let bin = process.env.SIGHTLINE_BIN || '';
  if (!bin) {
    bin = join(dir, 'sightline');
    execFileSync('go', ['build', '-o', bin, './cmd/sightline'], { cwd: repo, stdio: 'inherit' });
  }
  let api = '';
  const captured: Captured[] = [];
  const proxy = await startProxy(() => api, captured);
  let logs = '';
  // Every listener on port 0: startedLine (started.mjs) says where it is.
  const proc: ChildProcess = spawn(
    bin,
    ['serve', '--data-dir', join(dir, 'data'), '--server.http-listen-address', '127.0.0.1:0',
      '--server.grpc-listen-address', '127.0.0.1:0', '--admin.listen-address', '127.0.0.1:0',
      '--ingest.public-url', proxy.origin],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout!.on('data', (d) => (logs += d));
  proc.stderr!.on('data', (d) => (logs += d));
  const stop = async () => {
    proxy.server.closeAllConnections();
    await new Promise((r) => proxy.server.close(r));
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; ; i++) {
      const addrs = startedLine(logs);
      if (addrs) {
        api = `http://${addrs.http}`;
        try {
          if ((await fetch(`http://${addrs.admin}/readyz`)).ok) break;
        } catch {
          /* not up yet */
        }
      }
      if (i > 300 || proc.exitCode !== null) throw new Error('sightline did not become ready:\n' + logs.slice(-3000));
      await sleep(100);
    }
    const r = await fetch(api + '/api/v1/auth/signup', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password: 'a long enough passphrase 42', name: 'E2E', organizationName }),
    });
    if (r.status !== 200) throw new Error(`sign-up: ${r.status} ${await r.text()}`);
    const cookies = r.headers.getSetCookie().map((c) => c.split(';')[0]);
    const cookie = cookies.join('; ');
    const csrf = (cookies.find((c) => c.startsWith('sl_csrf=')) || '').slice('sl_csrf='.length);
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(api + path, {
        method,
        headers: { 'Content-Type': 'application/json', Cookie: cookie, 'X-CSRF-Token': csrf },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, text: await res.text() };
    };
    const org = (await r.json()).organization.id;
    const made = await call('POST', `/api/v1/organizations/${org}/sites`, { name: organizationName, domains: ['127.0.0.1'] });
    if (made.status !== 200) throw new Error(`create site: ${made.status} ${made.text}`);
    return { api, proxyOrigin: proxy.origin, captured, site: JSON.parse(made.text).site, logs: () => logs, call, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
