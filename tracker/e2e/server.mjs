// Test servers for the real-browser tests and the benchmark: a "site" origin serving the fixture
// pages with the install snippet, and an "ingest" origin (a different port, so a different origin:
// requests are cross-origin exactly as in production) serving the rendered bootstrap, the recorder
// and the batch intake. Every request to the intake is kept raw — query, headers, the body bytes
// as sent — so tests can assert on exactly what left the browser.
import http from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { gunzipSync, inflateSync } from 'node:zlib';
import { join, extname } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const fixtures = join(root, 'e2e/fixtures');

// The install snippet as documented in README.md (stub: false leaves out the optional inline stub,
// as a page with a strict CSP must).
export function snippet(ingest, key, stub = true) {
  return (
    (stub ? '<script>window.sightline=window.sightline||function(){(sightline.q=sightline.q||[]).push(arguments)};</script>\n' : '') +
    `<script async src="${ingest}/s/${key}.js"></script>`
  );
}

// Content-Security-Policies a fixture can be served with (?csp=NAME): "strict" allows scripts from
// the page and ingest only and connections to ingest only; "block" forbids connecting to ingest.
function csp(name, ingest) {
  if (name === 'strict') return `default-src 'self'; script-src 'self' ${ingest}; connect-src ${ingest}`;
  if (name === 'block') return `default-src 'self'; script-src 'self' ${ingest}; connect-src 'self'`;
  return '';
}

// over.hits: true gives the site a hitEndpoint on this ingest (traffic beacons, captured apart
// from batches in hits).
export function siteConfig(ingest, key, { hits, ...over } = {}) {
  return {
    ...(hits ? { hitEndpoint: `${ingest}/i/v1/hit` } : {}),
    siteKey: key,
    endpoint: `${ingest}/i/v1/batch`,
    recorderUrl: `${ingest}/static/recorder.js`,
    sampleRate: 1,
    recording: true,
    respectDnt: true,
    requireConsent: false,
    maskAllText: false,
    maskSelectors: [],
    blockSelectors: [],
    unmaskSelectors: [],
    flags: [],
    ...over,
  };
}

const types = { '.html': 'text/html; charset=utf-8', '.css': 'text/css', '.js': 'application/javascript', '.woff2': 'font/woff2' };

// listen serves handler on a free loopback port (an error in it answers 500) and answers the server.
export function listen(handler) {
  return new Promise((resolve) => {
    const s = http.createServer((req, res) => {
      handler(req, res).catch((e) => {
        res.writeHead(500);
        res.end(String(e));
      });
    });
    s.keepAliveTimeout = 1000;
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

// body answers a request's body bytes.
export function body(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

// decode turns a captured body into the envelope text, as ingest would.
export function decode(r) {
  const ce = r.query.get('ce') || r.headers['content-encoding'];
  if (ce === 'gzip') return gunzipSync(r.raw).toString('utf8');
  if (ce === 'deflate') return inflateSync(r.raw).toString('utf8');
  return r.raw.toString('utf8');
}

// CORS answers the intake's cross-origin requests as ingest does.
const CORS = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Retry-After' };

// answerIntake ends an intake request as ingest would: the test's refusal ({status, headers}) if it
// gives one, else 204; both with the CORS headers.
export function answerIntake(res, refusal) {
  res.writeHead(refusal ? refusal.status : 204, { ...CORS, ...(refusal?.headers || {}) });
  return res.end();
}

// serveBootstrap answers dist/bootstrap.js rendered with the site's settings, as ingest renders it.
export function serveBootstrap(res, dist, cfg) {
  const js = readFileSync(join(dist, 'bootstrap.js'), 'utf8').replace('"__SIGHTLINE_CONFIG__"', JSON.stringify(cfg));
  res.writeHead(200, { 'Content-Type': 'application/javascript', 'Cache-Control': 'no-store' });
  return res.end(js);
}

// startServers: configs maps site keys to settings overrides; answer(req, n) may return
// {status, headers} to make the intake refuse (n counts intake requests from 0), and delayMs to
// answer that late (a slow intake; the request is captured on arrival).
// snippetOrigin points the fixtures' snippet at another ingest (the real binary) instead.
export async function startServers({ configs = { k_e2e: {} }, answer, dist = join(root, 'dist'), snippetOrigin } = {}) {
  const requests = [];
  const hits = [];
  let ingestOrigin = '';
  const ingest = await listen(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const m = /^\/s\/([A-Za-z0-9_-]+)\.js$/.exec(url.pathname);
    if (req.method === 'GET' && m) {
      if (!(m[1] in configs)) {
        res.writeHead(200, { 'Content-Type': 'application/javascript' });
        return res.end('/* sightline: site not found */');
      }
      return serveBootstrap(res, dist, siteConfig(ingestOrigin, m[1], configs[m[1]]));
    }
    if (req.method === 'GET' && url.pathname === '/static/recorder.js') {
      res.writeHead(200, { 'Content-Type': 'application/javascript' });
      return res.end(readFileSync(join(dist, 'recorder.js')));
    }
    if (url.pathname === '/i/v1/hit') {
      const raw = await body(req);
      const r = { method: req.method, query: url.searchParams, headers: req.headers, raw, at: Date.now() };
      try {
        if (req.method === 'POST') r.body = JSON.parse(raw.toString('utf8'));
      } catch (e) {
        r.error = String(e);
      }
      hits.push(r);
      return answerIntake(res);
    }
    if (url.pathname === '/i/v1/batch') {
      const raw = await body(req);
      const r = { method: req.method, query: url.searchParams, headers: req.headers, raw, at: Date.now(), status: 204 };
      if (req.method === 'POST') {
        try {
          r.text = decode(r);
          r.envelope = JSON.parse(r.text);
        } catch (e) {
          r.error = String(e);
        }
      }
      const a = req.method === 'POST' && answer ? answer(r, requests.filter((x) => x.method === 'POST').length) : null;
      requests.push(r);
      if (a) r.status = a.status;
      if (a?.delayMs) await new Promise((done) => setTimeout(done, a.delayMs));
      return answerIntake(res, a);
    }
    res.writeHead(404);
    res.end();
  });
  ingestOrigin = `http://127.0.0.1:${ingest.address().port}`;

  const site = await listen(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    let p = url.pathname;
    if (p.startsWith('/spa/')) p = '/fixtures/spa.html';
    // /delay/<ms>/<name>: an empty script or a 1×1 GIF answered after ms, to hold back a page's
    // DOMContentLoaded (a parser-blocking script) or its load event (an image).
    const dm = /^\/delay\/(\d{1,5})\/[\w.-]+$/.exec(p);
    if (dm) {
      await new Promise((r) => setTimeout(r, Number(dm[1])));
      const gif = p.endsWith('.gif');
      res.writeHead(200, { 'Content-Type': gif ? 'image/gif' : 'application/javascript', 'Cache-Control': 'no-store' });
      return res.end(gif ? Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64') : '/* delayed */');
    }
    if (p.startsWith('/fixtures/') && !p.includes('..')) {
      const file = join(fixtures, p.slice('/fixtures/'.length));
      if (!existsSync(file)) {
        res.writeHead(404);
        return res.end();
      }
      let data = readFileSync(file);
      if (extname(file) === '.html') {
        const key = url.searchParams.get('k') || 'k_e2e';
        // ?rrweb=1: plain @rrweb/record with its default options instead (the benchmark's baseline).
        const plain = '<script src="/vendor/rrweb-record.js"></script><script>window.__rr=[];rrwebRecord.record({emit:function(e){window.__rr.push(e)}})</script>';
        const snip = url.searchParams.get('norec') ? '' : url.searchParams.get('rrweb') ? plain : snippet(snippetOrigin || ingestOrigin, key, url.searchParams.get('stub') !== '0');
        data = Buffer.from(data.toString('utf8').replace('__SNIPPET__', snip));
      }
      const headers = { 'Content-Type': types[extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' };
      const policy = csp(url.searchParams.get('csp'), snippetOrigin || ingestOrigin);
      if (policy) headers['Content-Security-Policy'] = policy;
      res.writeHead(200, headers);
      return res.end(data);
    }
    if (p === '/vendor/rrweb-record.js') {
      res.writeHead(200, { 'Content-Type': 'application/javascript' });
      return res.end(readFileSync(join(root, 'node_modules/@rrweb/record/dist/record.umd.cjs')));
    }
    if (p === '/vendor/chart.umd.min.js') {
      // Chart.js from npm, served by the page's origin as a site would serve it.
      res.writeHead(200, { 'Content-Type': 'application/javascript' });
      return res.end(readFileSync(join(root, 'node_modules/chart.js/dist/chart.umd.min.js')));
    }
    if (p === '/replay.html') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      return res.end('<!doctype html><html><head><link rel="stylesheet" href="/replay/style.css"><script src="/replay/replay.js"></script></head><body><div id="player"></div></body></html>');
    }
    if (p === '/replay/replay.js' || p === '/replay/style.css') {
      const f = p.endsWith('.js') ? 'replay.umd.min.cjs' : 'style.min.css';
      res.writeHead(200, { 'Content-Type': p.endsWith('.js') ? 'application/javascript' : 'text/css' });
      return res.end(readFileSync(join(root, 'node_modules/@rrweb/replay/dist', f)));
    }
    res.writeHead(404);
    res.end();
  });
  const siteOrigin = `http://127.0.0.1:${site.address().port}`;

  return {
    siteOrigin,
    ingestOrigin,
    requests,
    hits,
    batches: () => requests.filter((r) => r.method === 'POST' && r.status === 204 && r.envelope).map((r) => r.envelope),
    close: () => Promise.all([ingest, site].map((s) => new Promise((r) => (s.closeAllConnections(), s.close(r))))),
  };
}
