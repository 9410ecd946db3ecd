// Servers for the feedback e2e tests: like server.mjs (whose snippet, settings and serving it reuses), a
// "site" origin serving e2e/fixtures/feedback/ with the install snippet, and an "ingest" origin
// serving the bootstrap (settings with feedback and surveys), the recorder, the feedback bundle
// and both intakes. Every request to ingest is logged, so a test can count bundle downloads, and
// answers are kept parsed.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { snippet, siteConfig, decode, listen, body, answerIntake, serveBootstrap } from './server.mjs';

const root = new URL('..', import.meta.url).pathname;

// The strict policy the README documents for a site with the feedback widget: the ingest origin in
// script-src and connect-src, nothing inline, no style-src exception.
export const strictCsp = (ingest) => `default-src 'self'; script-src 'self' ${ingest}; connect-src ${ingest}; style-src 'self'; img-src 'self'`;

// configs: site key → settings overrides (feedback, surveys, …); answer(n) may return a status
// for the n-th answer POST.
export async function startFeedbackServers({ configs, answer } = {}) {
  const log = []; // every ingest request: {method, path}
  const answers = []; // parsed answer bodies, with their query and headers
  const batches = [];
  let ingestOrigin = '';
  const ingest = await listen(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    log.push({ method: req.method, path: url.pathname });
    const m = /^\/s\/([A-Za-z0-9_-]+)\.js$/.exec(url.pathname);
    if (req.method === 'GET' && m && m[1] in configs) {
      const cfg = siteConfig(ingestOrigin, m[1], {
        feedbackUrl: `${ingestOrigin}/static/feedback.js`,
        answerEndpoint: `${ingestOrigin}/i/v1/answer`,
        feedback: null,
        surveys: [],
        ...configs[m[1]],
      });
      return serveBootstrap(res, join(root, 'dist'), cfg);
    }
    if (req.method === 'GET' && (url.pathname === '/static/recorder.js' || url.pathname === '/static/feedback.js')) {
      res.writeHead(200, { 'Content-Type': 'application/javascript', 'Cache-Control': 'no-store' });
      return res.end(readFileSync(join(root, 'dist', url.pathname.slice('/static/'.length))));
    }
    if (url.pathname === '/i/v1/batch' || url.pathname === '/i/v1/answer') {
      const raw = await body(req);
      if (req.method === 'POST') {
        const r = { query: url.searchParams, headers: req.headers, raw, at: Date.now() };
        if (url.pathname === '/i/v1/batch') {
          try {
            batches.push(JSON.parse(decode(r)));
          } catch {
            /* not a batch */
          }
        } else {
          r.body = JSON.parse(raw.toString('utf8'));
          const a = answer ? answer(answers.length) : null;
          answers.push(r);
          if (a) return answerIntake(res, a);
        }
      }
      return answerIntake(res);
    }
    res.writeHead(404);
    res.end();
  });
  ingestOrigin = `http://127.0.0.1:${ingest.address().port}`;

  const site = await listen(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    // /app/<anything> serves a fixture for single-page-app paths: ?page=NAME picks it.
    const name = url.pathname.startsWith('/app/') ? url.searchParams.get('page') : url.pathname.replace(/^\/fixtures\/feedback\//, '').replace(/\.html$/, '');
    const file = join(root, 'e2e/fixtures/feedback', (name || '') + '.html');
    if (!name || !/^[\w-]+$/.test(name) || !existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    const key = url.searchParams.get('k') || 'k_fb';
    const html = readFileSync(file, 'utf8').replace('__SNIPPET__', url.searchParams.get('norec') ? '' : snippet(ingestOrigin, key, url.searchParams.get('stub') !== '0'));
    const headers = { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' };
    if (url.searchParams.get('csp') === 'strict') headers['Content-Security-Policy'] = strictCsp(ingestOrigin);
    res.writeHead(200, headers);
    res.end(html);
  });
  const siteOrigin = `http://127.0.0.1:${site.address().port}`;
  return {
    siteOrigin,
    ingestOrigin,
    log,
    answers,
    batches,
    close: () => Promise.all([ingest, site].map((s) => new Promise((r) => (s.closeAllConnections(), s.close(r))))),
  };
}
