import { describe, it, expect } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { Transport, backoffMs, parseRetryAfter, retryable, MAX_QUEUE_BYTES, BACKOFF_MAX_MS, type Answer, type TransportDeps } from '../src/transport';

// harness: a transport whose network answers from a script and whose timers are recorded.
function harness(answers: Answer[], opts: Partial<TransportDeps> = {}) {
  const posts: { url: string; seq: number; body: string }[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const beacons: { url: string; body: Blob }[] = [];
  let now = 1_763_890_000_000;
  const t = new Transport({
    url: 'https://ingest.test/i/v1/batch?k=k_test',
    post: async (url, body) => {
      const text = typeof body === 'string' ? body : url.includes('ce=gzip') ? gunzipSync(Buffer.from(await body.arrayBuffer())).toString() : await body.text();
      posts.push({ url, seq: JSON.parse(text).seq, body: text });
      return answers.shift() ?? { status: 204, retryAfter: null };
    },
    beacon: (url, body) => (beacons.push({ url, body }), true),
    gzip: null,
    setTimer: (fn, ms) => timers.push({ fn, ms }),
    now: () => now,
    rnd: () => 1, // jitter at the top of its range: delays are the full step
    ...opts,
  });
  const settle = () => new Promise((r) => setTimeout(r, 5));
  const fire = async () => {
    const x = timers.shift()!;
    now += x.ms;
    x.fn();
    await settle();
    return x.ms;
  };
  return { t, posts, timers, beacons, settle, fire };
}

const env = (seq: number) => JSON.stringify({ v: 1, seq, events: [{ type: 3 }] });

describe('transport', () => {
  it('sends batches in order, one at a time', async () => {
    const h = harness([]);
    for (let i = 0; i < 5; i++) h.t.push(i, env(i));
    for (let i = 0; i < 10; i++) await h.settle();
    expect(h.posts.map((p) => p.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(h.t.length).toBe(0);
    expect(h.t.sent).toBe(5);
  });

  it('retries network errors with exponential backoff and keeps order', async () => {
    const h = harness([0, 0, 0, 0].map((status) => ({ status, retryAfter: null })));
    h.t.push(0, env(0));
    h.t.push(1, env(1));
    await h.settle();
    const delays = [];
    for (let i = 0; i < 4; i++) delays.push(await h.fire());
    expect(delays).toEqual([1000, 2000, 4000, 8000]);
    for (let i = 0; i < 5; i++) await h.settle();
    expect(h.posts.map((p) => p.seq)).toEqual([0, 0, 0, 0, 0, 1]);
    expect(h.t.length).toBe(0);
  });

  it('honours Retry-After on 429 and 503', async () => {
    const h = harness([
      { status: 429, retryAfter: '30' },
      { status: 503, retryAfter: new Date(1_763_890_000_000 + 30_000 + 90_000).toUTCString() },
    ]);
    h.t.push(7, env(7));
    await h.settle();
    expect(await h.fire()).toBe(30_000);
    expect(await h.fire()).toBe(90_000);
    await h.settle();
    expect(h.posts.map((p) => p.seq)).toEqual([7, 7, 7]);
    expect(h.t.length).toBe(0);
  });

  it('gives up on a refused batch and goes on with the next', async () => {
    const dropped: number[] = [];
    const h = harness([{ status: 400, retryAfter: null }], { onDrop: (it, status) => dropped.push(it.seq, status) });
    h.t.push(0, env(0));
    h.t.push(1, env(1));
    for (let i = 0; i < 5; i++) await h.settle();
    expect(h.posts.map((p) => p.seq)).toEqual([0, 1]);
    expect(dropped).toEqual([0, 400]);
    expect(h.timers.length).toBe(0);
  });

  it('is bounded: a full queue refuses new batches', async () => {
    const h = harness(Array.from({ length: 100 }, () => ({ status: 503, retryAfter: '60' })));
    const big = 'x'.repeat(512 * 1024);
    let accepted = 0;
    for (let i = 0; i < 20; i++) if (h.t.push(i, JSON.stringify({ seq: i, pad: big }))) accepted++;
    expect(accepted).toBe(Math.floor(MAX_QUEUE_BYTES / (big.length + 20)));
    expect(h.t.queuedBytes).toBeLessThanOrEqual(MAX_QUEUE_BYTES);
    expect(h.t.fits(1)).toBe(true);
    expect(h.t.fits(512 * 1024)).toBe(false);
    // An empty queue takes even an oversized batch, so a huge first snapshot is not refused.
    const e = harness([]);
    expect(e.t.push(0, 'y'.repeat(MAX_QUEUE_BYTES + 1))).toBe(true);
  });

  it('compresses with gzip and says so in the query', async () => {
    const gz = async (s: string) => new Blob([new Uint8Array(await new Response(new Blob([s]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer())]);
    const h = harness([], { gzip: gz });
    h.t.push(3, env(3));
    for (let i = 0; i < 5; i++) await h.settle();
    expect(h.posts[0].url).toBe('https://ingest.test/i/v1/batch?k=k_test&ce=gzip');
    expect(JSON.parse(h.posts[0].body).seq).toBe(3);
  });

  it('compresses batches when queued: behind a slow request they still fit the beacon budget at unload', async () => {
    const gz = async (s: string) => new Blob([new Uint8Array(await new Response(new Blob([s]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer())]);
    // Chromium's budget: 64 KiB of keepalive bodies in flight; the first request never answers.
    let inFlight = 0;
    const h = harness([], {
      gzip: gz,
      post: (_url, body) => ((inFlight += typeof body === 'string' ? body.length : body.size), new Promise<Answer>(() => {})),
      beacon: (url, body) => inFlight + body.size <= 64 * 1024 && ((inFlight += body.size), h.beacons.push({ url, body }), true),
    });
    // Four batches of a page's repeated markup, ~30 KB each as JSON.
    const big = (seq: number) => JSON.stringify({ v: 1, seq, events: Array.from({ length: 300 }, (_, i) => ({ type: 3, data: { source: 0, adds: [{ node: { tagName: 'li', attributes: { class: 'product-card' } }, text: 'Espresso machine ' + i }] } })) });
    for (let i = 0; i < 4; i++) h.t.push(i, big(i));
    for (let i = 0; i < 10; i++) await h.settle();
    expect(big(1).length).toBeGreaterThan(25_000);
    expect(h.t.unload()).toBe(4);
    expect(h.t.length).toBe(0);
    expect(h.beacons.map((b) => b.url.endsWith('&ce=gzip'))).toEqual([true, true, true, true]);
    const seqs = await Promise.all(h.beacons.map(async (b) => JSON.parse(gunzipSync(Buffer.from(await b.body.arrayBuffer())).toString()).seq));
    expect(seqs).toEqual([0, 1, 2, 3]);
  });

  it('hands queued batches to sendBeacon on unload, stopping at the quota', async () => {
    let quota = 2;
    const h = harness(Array.from({ length: 10 }, () => ({ status: 503, retryAfter: '60' })));
    const h2 = harness(Array.from({ length: 10 }, () => ({ status: 503, retryAfter: '60' })), {
      beacon: () => quota-- > 0,
    });
    for (const x of [h, h2]) {
      for (let i = 0; i < 4; i++) x.t.push(i, env(i));
      await x.settle();
    }
    expect(h.t.unload()).toBe(4);
    expect(h.t.length).toBe(0);
    const bodies = await Promise.all(h.beacons.map((b) => b.body.text()));
    expect(bodies.map((b) => JSON.parse(b).seq)).toEqual([0, 1, 2, 3]);
    expect(h.beacons.every((b) => b.body.type === 'text/plain')).toBe(true);
    expect(h2.t.unload()).toBe(2);
    expect(h2.t.length).toBe(2); // kept for a later chance, not silently dropped
  });
});

describe('backoff', () => {
  it('doubles, jitters, caps', () => {
    expect(backoffMs(1, 1, null, 0)).toBe(1000);
    expect(backoffMs(1, 0, null, 0)).toBe(500);
    expect(backoffMs(3, 1, null, 0)).toBe(4000);
    expect(backoffMs(30, 1, null, 0)).toBe(BACKOFF_MAX_MS);
    expect(backoffMs(1, 1, '120', 0)).toBe(120_000);
    expect(backoffMs(1, 1, '999999', 0)).toBe(2 * BACKOFF_MAX_MS);
  });
  it('parses Retry-After', () => {
    expect(parseRetryAfter('5', 0)).toBe(5000);
    expect(parseRetryAfter('soon', 0)).toBeNull();
    expect(parseRetryAfter(null, 0)).toBeNull();
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:10 GMT', 0)).toBe(10_000);
  });
  it('retries only what can succeed later', () => {
    expect([0, 408, 429, 500, 502, 503, 504].every(retryable)).toBe(true);
    expect([400, 403, 404, 413, 415].some(retryable)).toBe(false);
  });
});
