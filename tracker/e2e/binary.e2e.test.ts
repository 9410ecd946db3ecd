// The same browser, the real thing: `sightline serve` (all services in one process, embedded
// storage) built from this repository, a site created through the REST API, a fixture page
// recorded by Chromium, then the session found through search and its recording streamed back and
// replayed with rrweb's Replayer.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import httpMod from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
// @ts-expect-error plain ES module
import { startServers } from './server.mjs';
// @ts-expect-error plain ES module
import { launch } from './browser.mjs';

const repo = join(import.meta.dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

let dir: string;
let proc: ChildProcess;
let logs = '';
let api: string;
let browser: Browser;
let srv: { siteOrigin: string; close(): Promise<void> };
let cookie = '';
let proxy: httpMod.Server;
let proxyOrigin = '';
// Every intake request as the browser sent it (the proxy forwards it unchanged to the binary).
const captured: { url: string; raw: Buffer; status: number }[] = [];

// startProxy passes everything through to the binary; ingest's public URL is the proxy, so the
// scripts it renders send the browser's batches across it, where they are captured raw.
function startProxy(target: string): Promise<void> {
  proxy = httpMod.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(parts);
      try {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'content-length' && k !== 'connection') headers[k] = v;
        const r = await fetch(target + req.url, { method: req.method, headers, body: raw.length ? raw : undefined });
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
    proxy.listen(0, '127.0.0.1', () => {
      proxyOrigin = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
      ok();
    }),
  );
}
let csrf = '';

async function call(method: string, path: string, body?: unknown) {
  const r = await fetch(api + path, {
    method,
    headers: { 'Content-Type': 'application/json', Cookie: cookie, 'X-CSRF-Token': csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return { r, text };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sightline-e2e-'));
  // make test-e2e passes the binary it built; run alone, the suite builds its own.
  let bin = process.env.SIGHTLINE_BIN || '';
  if (!bin) {
    bin = join(dir, 'sightline');
    execFileSync('go', ['build', '-o', bin, './cmd/sightline'], { cwd: repo, stdio: 'inherit' });
  }
  const [http, grpc, admin] = [await freePort(), await freePort(), await freePort()];
  api = `http://127.0.0.1:${http}`;
  await startProxy(api);
  proc = spawn(
    bin,
    ['serve', '--data-dir', join(dir, 'data'), '--server.http-listen-address', `127.0.0.1:${http}`,
      '--server.grpc-listen-address', `127.0.0.1:${grpc}`, '--admin.listen-address', `127.0.0.1:${admin}`,
      '--ingest.public-url', proxyOrigin],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout!.on('data', (d) => (logs += d));
  proc.stderr!.on('data', (d) => (logs += d));
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${admin}/readyz`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (i > 300 || proc.exitCode !== null) throw new Error('sightline did not become ready:\n' + logs.slice(-3000));
    await sleep(100);
  }
  const r = await fetch(api + '/api/v1/auth/signup', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'tracker-e2e@example.org', password: 'a long enough passphrase 42', name: 'E2E', organizationName: 'Tracker E2E' }),
  });
  expect(r.status, await r.clone().text()).toBe(200);
  const cookies = r.headers.getSetCookie().map((c) => c.split(';')[0]);
  cookie = cookies.join('; ');
  csrf = (cookies.find((c) => c.startsWith('sl_csrf=')) || '').slice('sl_csrf='.length);
  const org = (await r.json()).organization.id;
  const site = JSON.parse((await call('POST', `/api/v1/organizations/${org}/sites`, { name: 'fixtures', domains: ['127.0.0.1'] })).text).site;
  srv = await startServers({ configs: {}, snippetOrigin: proxyOrigin });
  (globalThis as any).__site = site;
  browser = await launch();
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await srv?.close();
  if (proxy) {
    proxy.closeAllConnections();
    await new Promise((r) => proxy.close(r));
  }
  if (proc && proc.exitCode === null) {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('against the real sightline binary', () => {
  it('records a page, finds the session through search, replays the stored recording; no secret stored or sent', async () => {
    const site = (globalThis as any).__site;
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${srv.siteOrigin}/fixtures/form.html?k=${site.siteKey}`);
    await page.waitForFunction(() => (window as any).sightline && (window as any).sightline.r === 1);
    await page.type('#password', 'Binary-Secret-Pw-77', { delay: 5 });
    await page.type('#card', '5555 4444 3333 1111', { delay: 5 });
    await page.type('#search', 'visible search words', { delay: 5 });
    await sleep(6000);
    await page.goto('about:blank');
    await sleep(1500);
    await ctx.close();

    expect(captured.length).toBeGreaterThan(1);
    const statuses = captured.map((c) => c.status);
    expect(statuses.every((s) => s === 204), `statuses ${statuses} ${logs.slice(-2000)}`).toBe(true);
    expect(captured.some((c) => c.url.includes('ce=gzip'))).toBe(true);
    const texts = captured.map((c) => (c.url.includes('ce=gzip') ? gunzipSync(c.raw) : c.raw).toString('utf8'));
    const envs = texts.map((t) => JSON.parse(t));
    const sessionId = envs[0].sessionId;
    for (const t of texts.concat(captured.map((c) => c.raw.toString('latin1')))) {
      expect(t).not.toContain('Binary-Secret');
      expect(t).not.toContain('5555 4444');
    }

    // Ingest → spool → forwarder → recordings → search, asynchronously: poll.
    let found: any = null;
    for (let i = 0; i < 150 && !found; i++) {
      const res = JSON.parse((await call('POST', `/api/v1/sites/${site.id}/sessions:search`, {})).text);
      found = (res.sessions || []).find((s: any) => s.sessionId === sessionId);
      if (!found) await sleep(200);
    }
    expect(found, 'session listed by search').toBeTruthy();

    const rec = (await call('GET', `/api/v1/sites/${site.id}/sessions/${sessionId}/recording`)).text;
    const chunks = rec.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l).result);
    const seqs = chunks.map((c) => Number(c.seq ?? 0)); // proto3 JSON leaves out 0
    expect(seqs).toEqual([...new Set(envs.map((e) => e.seq))].sort((a, b) => a - b));
    const events = chunks.flatMap((c) => JSON.parse(Buffer.from(c.events, 'base64').toString('utf8')));
    const stored = JSON.stringify(events);
    expect(stored).not.toContain('Binary-Secret');
    expect(stored).toContain('visible search words');

    const rp = await browser.newPage();
    await rp.goto(`${srv.siteOrigin}/replay.html`);
    const text = await rp.evaluate(async (evs: any[]) => {
      const r = new (window as any).rrwebReplay.Replayer(evs, { root: document.getElementById('player'), showWarning: false, mouseTail: false });
      r.pause(evs[evs.length - 1].timestamp - evs[0].timestamp);
      await new Promise((ok) => setTimeout(ok, 500));
      return (r.iframe.contentDocument as Document).body.textContent;
    }, events);
    await rp.close();
    expect(text).toContain('Checkout form');
    expect(text).toContain('Visible fixture text');
  });
});
