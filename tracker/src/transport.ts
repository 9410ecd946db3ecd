// Transport: a bounded, ordered, in-memory queue of batches with retry and backoff, one request in
// flight at a time (so ingest sees a page view's batches in sequence order), gzip through
// CompressionStream where the browser has it, and sendBeacon when the page is going away.

export interface Item {
  seq: number;
  json: string; // the envelope, serialised once
  gz?: Blob; // compressed body, kept for retries
  gzp?: Promise<void>; // its compression, started when queued
  attempts: number;
}

export interface Answer {
  status: number; // 0 for a network error
  retryAfter: string | null;
}

export interface TransportDeps {
  url: string; // endpoint with ?k=<site key>
  post(url: string, body: Blob | string, keepalive: boolean): Promise<Answer>;
  beacon(url: string, body: Blob): boolean;
  gzip: ((s: string) => Promise<Blob>) | null;
  setTimer(fn: () => void, ms: number): unknown;
  now(): number;
  rnd(): number;
  onDrop?(item: Item, status: number): void;
}

export const MAX_QUEUE_BYTES = 4 * 1024 * 1024;
export const MAX_QUEUE_ITEMS = 200;
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_MAX_MS = 5 * 60 * 1000;
const KEEPALIVE_MAX = 60 * 1024; // browsers cap keepalive/beacon bodies at 64 KiB in flight

// backoffMs is the delay before retry number `attempt` (1-based): exponential with jitter in
// [50%, 100%] of the step, capped; a server's Retry-After is honoured when it asks for longer.
export function backoffMs(attempt: number, rnd: number, retryAfter: string | null, now: number): number {
  const step = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, Math.max(0, attempt - 1)));
  let ms = Math.round(step * (0.5 + rnd / 2));
  const ra = parseRetryAfter(retryAfter, now);
  if (ra !== null) ms = Math.max(ms, Math.min(ra, BACKOFF_MAX_MS * 2));
  return ms;
}

// parseRetryAfter reads delay-seconds or an HTTP date; null when absent or malformed.
export function parseRetryAfter(v: string | null, now: number): number | null {
  if (!v) return null;
  const t = v.trim();
  if (/^\d+$/.test(t)) return parseInt(t, 10) * 1000;
  const d = Date.parse(t);
  return isNaN(d) ? null : Math.max(0, d - now);
}

// retryable says whether a status is worth another try: network errors, timeouts, rate limits and
// server-side trouble. Other 4xx mean the batch itself is refused and will never be accepted.
export function retryable(status: number): boolean {
  return status === 0 || status === 408 || status === 429 || status >= 500;
}

export class Transport {
  private q: Item[] = [];
  private bytes = 0;
  private busy = false;
  private waiting = false;
  sent = 0;
  dropped = 0;
  constructor(private d: TransportDeps) {}

  get length(): number {
    return this.q.length;
  }
  get queuedBytes(): number {
    return this.bytes;
  }

  // fits says whether a batch of n bytes can be queued. An empty queue takes any one batch, so a
  // page whose full snapshot alone exceeds the bound still sends it.
  fits(n: number): boolean {
    return this.q.length === 0 || (this.q.length < MAX_QUEUE_ITEMS && this.bytes + n <= MAX_QUEUE_BYTES);
  }

  push(seq: number, json: string): boolean {
    if (!this.fits(json.length)) return false;
    const it: Item = { seq, json, attempts: 0 };
    this.q.push(it);
    this.bytes += json.length;
    this.squeeze(it);
    this.pump();
    return true;
  }

  // squeeze compresses a batch as soon as it is queued, not when its turn comes: a page that goes
  // away hands every queued batch to sendBeacon, whose 64 KiB budget gzipped batches fit and plain
  // ones behind a slow request may not. A failed compression leaves the batch to go plain.
  private squeeze(it: Item): Promise<void> {
    const gzip = this.d.gzip;
    if (!it.gzp) {
      it.gzp = Promise.resolve();
      if (gzip)
        try {
          it.gzp = gzip(it.json).then(
            (b) => void (it.gz = b),
            () => {},
          );
        } catch {
          /* sent plain */
        }
    }
    return it.gzp;
  }

  private remove(it: Item): void {
    const i = this.q.indexOf(it);
    if (i >= 0) {
      this.q.splice(i, 1);
      this.bytes -= it.json.length;
    }
  }

  private pump(): void {
    if (this.busy || this.waiting || !this.q.length) return;
    const it = this.q[0];
    this.busy = true;
    this.send(it).then(
      (a) => this.done(it, a),
      () => this.done(it, { status: 0, retryAfter: null }),
    );
  }

  private async send(it: Item): Promise<Answer> {
    let body: Blob | string = it.json;
    let url = this.d.url;
    await this.squeeze(it);
    if (it.gz) {
      body = it.gz;
      url += '&ce=gzip';
    }
    if (this.q.indexOf(it) < 0) return { status: 204, retryAfter: null }; // handed to sendBeacon meanwhile
    const size = typeof body === 'string' ? body.length : body.size;
    return this.d.post(url, body, size <= KEEPALIVE_MAX);
  }

  private done(it: Item, a: Answer): void {
    this.busy = false;
    if (this.q.indexOf(it) < 0) {
      this.pump(); // already handed to sendBeacon meanwhile
      return;
    }
    if (a.status >= 200 && a.status < 300) {
      this.remove(it);
      this.sent++;
    } else if (retryable(a.status)) {
      it.attempts++;
      this.waiting = true;
      this.d.setTimer(() => {
        this.waiting = false;
        this.pump();
      }, backoffMs(it.attempts, this.d.rnd(), a.retryAfter, this.d.now()));
      return;
    } else {
      this.remove(it);
      this.dropped++;
      if (this.d.onDrop) this.d.onDrop(it, a.status);
    }
    this.pump();
  }

  // pending returns the envelopes not yet handed over, oldest first.
  pending(): string[] {
    return this.q.map((it) => it.json);
  }

  // clear forgets every batch not yet sent (consent withdrawn).
  clear(): void {
    this.q = [];
    this.bytes = 0;
  }

  // unload hands every queued batch to sendBeacon, in order, for a page that is being hidden or
  // unloaded; batches the browser accepted leave the queue (a duplicate of one in flight is
  // harmless: ingest is idempotent on (site, session, seq, page view)). Returns how many were accepted.
  unload(): number {
    let n = 0;
    for (const it of this.q.slice()) {
      const gz = it.gz;
      const ok = gz
        ? this.d.beacon(this.d.url + '&ce=gzip', gz)
        : this.d.beacon(this.d.url, new Blob([it.json], { type: 'text/plain' }));
      if (!ok) break; // over the browser's beacon quota: keep the rest for a later chance
      this.remove(it);
      this.sent++;
      n++;
    }
    return n;
  }
}

// Browser implementations of the transport's edges.
export function browserGzip(): ((s: string) => Promise<Blob>) | null {
  const CS = (globalThis as { CompressionStream?: typeof CompressionStream }).CompressionStream;
  if (typeof CS !== 'function' || typeof Response !== 'function') return null;
  return (s) => new Response(new Blob([s]).stream().pipeThrough(new CS('gzip'))).blob().then((b) => new Blob([b], { type: 'text/plain' }));
}

export function browserPost(url: string, body: Blob | string, keepalive: boolean): Promise<Answer> {
  return fetch(url, {
    method: 'POST',
    body,
    keepalive,
    credentials: 'omit',
    mode: 'cors',
    headers: { 'Content-Type': 'text/plain' }, // CORS-safelisted: no preflight
  }).then(
    (r) => ({ status: r.status, retryAfter: r.headers.get('Retry-After') }),
    () => ({ status: 0, retryAfter: null }),
  );
}

export function browserBeacon(url: string, body: Blob): boolean {
  try {
    return typeof navigator.sendBeacon === 'function' && navigator.sendBeacon(url, body);
  } catch {
    return false;
  }
}
