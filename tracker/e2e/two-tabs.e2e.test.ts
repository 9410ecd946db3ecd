// Two tabs of one session that take the same seq: both batches must be stored and replayed. The
// tracker allocates seq from a localStorage counter, which has no compare-and-set, so two tabs
// flushing in the same few milliseconds can both read it before either writes it. Recordings keys
// a chunk by (site, session, seq, page view), so neither batch is taken for a re-delivery of the
// other. Against the real binary: `sightline serve`, a site made through the REST API, Chromium.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import httpMod from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
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
let csrf = '';
let site: { id: string; siteKey: string };
let proxy: httpMod.Server;
let proxyOrigin = '';
// Every batch as the browsers sent it, with ingest's answer (the proxy forwards it unchanged).
const captured: { url: string; raw: Buffer; status: number }[] = [];

// startProxy is ingest's public URL: it passes everything through to the binary and keeps the
// batches, so the test knows exactly which (seq, page view) pairs ingest answered 204 to.
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

async function call(method: string, path: string, body?: unknown) {
  const r = await fetch(api + path, {
    method,
    headers: { 'Content-Type': 'application/json', Cookie: cookie, 'X-CSRF-Token': csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, text: await r.text() };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sightline-e2e-tabs-'));
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
    body: JSON.stringify({ email: 'two-tabs-e2e@example.org', password: 'a long enough passphrase 42', name: 'E2E', organizationName: 'Two tabs' }),
  });
  expect(r.status, await r.clone().text()).toBe(200);
  const cookies = r.headers.getSetCookie().map((c) => c.split(';')[0]);
  cookie = cookies.join('; ');
  csrf = (cookies.find((c) => c.startsWith('sl_csrf=')) || '').slice('sl_csrf='.length);
  const org = (await r.json()).organization.id;
  const made = await call('POST', `/api/v1/organizations/${org}/sites`, { name: 'two tabs', domains: ['127.0.0.1'] });
  expect(made.status, made.text).toBe(200);
  site = JSON.parse(made.text).site;
  srv = await startServers({ configs: {}, snippetOrigin: proxyOrigin });
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

// The tracker's shared seq counter is localStorage['_sl_<site key>_n'].
const counterKey = /^_sl_.+_n$/;

describe('two tabs of one session against the real binary', () => {
  it('stores and replays both batches when both tabs take the same seq', async () => {
    const ctx = await browser.newContext();
    // Make the race certain rather than lucky: each tab reads the shared counter and its write
    // never lands, as when both tabs read before either writes. No write means no storage event
    // either, so each tab numbers its batches 0, 1, 2… from its own floor and every seq collides.
    // The session itself (its own key) is shared as in production.
    await ctx.addInitScript((src: string) => {
      const re = new RegExp(src);
      const set = Storage.prototype.setItem;
      Storage.prototype.setItem = function (this: Storage, k: string, v: string) {
        if (re.test(k)) return;
        return set.call(this, k, v);
      };
    }, counterKey.source);
    const url = `${srv.siteOrigin}/fixtures/form.html?k=${site.siteKey}`;
    const open = async (): Promise<Page> => {
      const p = await ctx.newPage();
      await p.goto(url);
      await p.waitForFunction(() => (window as any).sightline && (window as any).sightline.r === 1);
      return p;
    };
    const tabA = await open();
    const tabB = await open(); // after A: it joins A's session from localStorage
    const sessionOf = (p: Page) =>
      p.evaluate(() => {
        for (let i = 0; i < localStorage.length; i++) {
          const k = localStorage.key(i)!;
          if (/^_sl_.+_s$/.test(k)) return JSON.parse(localStorage.getItem(k)!).i as string;
        }
        return '';
      });
    const sessionId = await sessionOf(tabA);
    expect(sessionId).not.toBe('');
    expect(await sessionOf(tabB)).toBe(sessionId);

    await Promise.all([tabA.type('#search', 'words typed in tab A', { delay: 5 }), tabB.type('#search', 'words typed in tab B', { delay: 5 })]);
    // Both tabs flush at the same moment: they are left together (page hide → sendBeacon).
    await Promise.all([tabA.goto('about:blank'), tabB.goto('about:blank')]);
    await sleep(1500);
    await ctx.close();

    expect(captured.length).toBeGreaterThan(1);
    const statuses = captured.map((c) => c.status);
    expect(statuses.every((s) => s === 204), `statuses ${statuses} ${logs.slice(-2000)}`).toBe(true);
    const envs = captured.map((c) => JSON.parse((c.url.includes('ce=gzip') ? gunzipSync(c.raw) : c.raw).toString('utf8')));
    expect(envs.every((e) => e.sessionId === sessionId)).toBe(true);
    const pageViews = [...new Set(envs.map((e) => e.pageViewId as string))];
    expect(pageViews.length).toBe(2);
    const key = (seq: number, pv: string) => `${seq}/${pv}`;
    const sent = [...new Set(envs.map((e) => key(e.seq, e.pageViewId)))];
    // The collision happened: one seq, two different batches.
    const seqsOf = (pv: string) => new Set(envs.filter((e) => e.pageViewId === pv).map((e) => e.seq as number));
    const shared = [...seqsOf(pageViews[0])].filter((q) => seqsOf(pageViews[1]).has(q));
    expect(shared.length, `seqs per tab: ${sent}`).toBeGreaterThan(0);

    // Ingest → spool → forwarder → recordings, asynchronously: poll until every batch is streamed.
    const want = envs
      .map((e) => ({ seq: e.seq as number, pv: e.pageViewId as string }))
      .filter((x, i, all) => all.findIndex((y) => y.seq === x.seq && y.pv === x.pv) === i)
      .sort((a, b) => a.seq - b.seq || (a.pv < b.pv ? -1 : a.pv > b.pv ? 1 : 0))
      .map((x) => key(x.seq, x.pv));
    let chunks: any[] = [];
    for (let i = 0; i < 150; i++) {
      const rec = await call('GET', `/api/v1/sites/${site.id}/sessions/${sessionId}/recording`);
      if (rec.status === 200) {
        chunks = rec.text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l).result).filter(Boolean);
        if (chunks.length >= want.length) break;
      }
      await sleep(200);
    }
    const got = chunks.map((c) => key(Number(c.seq ?? 0), c.pageViewId)); // proto3 JSON leaves out 0
    expect(got, `streamed ${got}, sent ${want}\n${logs.slice(-2000)}`).toEqual(want);
    // Each tab's own events are there, whichever tab's batch of a shared seq came first.
    const stored = chunks.map((c) => Buffer.from(c.events, 'base64').toString('utf8')).join('\n');
    expect(stored).toContain('words typed in tab A');
    expect(stored).toContain('words typed in tab B');
  });
});
