// The recorder bundle: loaded by the bootstrap only for a visit that is sampled in and allowed
// (Do-Not-Track, consent). It records the page with rrweb, batches the events into wire-format
// envelopes (docs/wire-format.md) and hands them to the transport. Every entry point from the page
// or the browser goes through guard(): a failure disables the recorder, restores what it patched
// and reports one sl:error event (source "tracker") — the page itself never sees an exception.
import { record } from '@rrweb/record';
import { normalizeConfig, type Config } from './config';
import { webStore, storageWorks, memoryStore, type Store } from './store';
import { prefix, touchSession, readSession, live, visitorId, nextSeq, storedSeq, forget, type Session } from './session';
import { stash, unstash, unstashPageView } from './stash';
import { blocked } from './gate';
import { randomId, traceparent } from './ids';
import { maskingOptions } from './masking';
import { identifyPayload, eventPayload } from './api';
import { Transport, browserGzip, browserPost, browserBeacon } from './transport';

const FLUSH_MS = 5000; // a batch every few seconds
const FIRST_FLUSH_MS = 1000; // the first full snapshot leaves early
const FLUSH_BYTES = 256 * 1024; // or as soon as this much serialised JSON is buffered
const FLUSH_EVENTS = 2000;
const CHECKOUT_MS = 10 * 60 * 1000;
const TOUCH_MS = 10000; // how often activity is written to the shared session
const MAX_ERRORS = 50; // sl:error events per page view
const MAX_NAVIGATIONS = 500; // sl:navigation events per page view (some apps replaceState on scroll)
const MAX_MESSAGE = 1000;
const MAX_STACK = 4000;
// rrweb incremental sources that mean the visitor did something (as opposed to the page changing).
// MouseMove, MouseInteraction, Scroll, ViewportResize, Input, TouchMove, MediaInteraction, Drag, Selection.
const ACTIVITY = [1, 2, 3, 4, 5, 6, 7, 12, 14];

type Fn = (...a: unknown[]) => unknown;
interface Global {
  (...a: unknown[]): void;
  q?: ArrayLike<unknown>[];
  c?: unknown;
  l?: number;
  r?: number;
  s?: Session;
}

export function start(w: Window & { sightline?: Global }): void {
  const prev = w.sightline;
  if (!prev || prev.r) return; // no bootstrap, or a recorder already runs: loading twice is harmless
  prev.r = 1;
  const cfg = normalizeConfig(prev.c);
  if (!cfg) return;
  const k = prefix(cfg.siteKey);
  const ls = () => w.localStorage;
  const st = storageWorks(ls) ? webStore(ls) : memoryStore(prev.s ? { [k + 's']: JSON.stringify(prev.s) } : {});
  const queued = (prev.q || []).slice();
  // The last consent call queued before the recorder arrived decides: a refusal starts nothing, a
  // grant counts even where storage cannot remember it.
  let last: ArrayLike<unknown> | undefined;
  for (const a of queued) if (a[0] === 'consent') last = a;
  if (last && !last[1]) return forget(st, k);
  if (last) st.set(k + 'c', '1');
  if (blocked(cfg, st, k, navigator, w)) return;
  const r = new Recorder(w, cfg, st, k);
  const api: Global = function (...a: unknown[]) {
    r.command(a);
  };
  api.l = 1;
  api.r = 1;
  api.c = prev.c;
  w.sightline = api;
  r.begin();
  for (const a of queued) r.command(Array.prototype.slice.call(a));
}

export class Recorder {
  private session: Session;
  private visitor: string;
  private pageView = randomId('p_');
  private seqFloor = 0;
  private buf: string[] = [];
  private bufBytes = 0;
  private truncated = false; // events were dropped since the last batch
  private dropping = false; // the transport queue is full: events are being dropped
  private expired = false; // the session ended while this page was idle
  private awaiting = false; // waiting for the Meta event of a fresh full snapshot
  private stopRec: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastTouch = 0;
  private errors = 0;
  private navigations = 0;
  private state: 'idle' | 'on' | 'off' = 'idle';
  private failed = false;
  private url: string;
  private referrer: string;
  private undo: (() => void)[] = [];
  private transport: Transport;

  constructor(
    private w: Window,
    private cfg: Config,
    private st: Store,
    private k: string,
  ) {
    this.session = touchSession(st, k, Date.now(), cfg.sampleRate, Math.random);
    this.visitor = visitorId(st, k);
    this.url = w.location.href;
    this.referrer = w.document.referrer;
    const sep = cfg.endpoint.indexOf('?') < 0 ? '?' : '&';
    this.transport = new Transport({
      url: cfg.endpoint + sep + 'k=' + encodeURIComponent(cfg.siteKey),
      post: browserPost,
      beacon: browserBeacon,
      gzip: browserGzip(),
      setTimer: (fn, ms) => setTimeout(this.guard(fn), ms),
      now: Date.now,
      rnd: Math.random,
      // A batch ingest refused for good (e.g. 413) is lost: say so on the next one. An unknown
      // site or a page origin the site does not list will refuse every batch: stop recording.
      onDrop: (_it, status) => {
        this.truncated = true;
        if (status === 403 || status === 404) this.guard(() => this.halt(true))();
      },
    });
  }

  // guard wraps every entry point; see the file comment.
  guard<A extends unknown[]>(fn: (...a: A) => unknown): (...a: A) => void {
    return (...a: A) => {
      try {
        fn.apply(this, a);
      } catch (e) {
        this.fail(e);
      }
    };
  }

  begin(): void {
    this.guard(() => {
      // Left behind by an earlier page at page hide: they go first, in their order.
      for (const json of unstash(this.st, this.k)) this.transport.push(-1, json);
      if (!this.session.p) return;
      this.startRecording();
      this.listen();
    })();
  }

  private startRecording(): void {
    const m = maskingOptions(this.cfg);
    this.state = 'on';
    this.stopRec = record({
      emit: this.guard((ev: unknown) => this.onEvent(ev as RREvent)),
      ...m,
      maskInputOptions: { password: true },
      sampling: { mousemove: 50, mouseInteraction: true, scroll: 150, media: 800, input: 'all' },
      slimDOMOptions: 'all',
      // A fresh full snapshot every 10 minutes lets a replay start mid-session (recordings seeks
      // to the last chunk holding one).
      checkoutEveryNms: CHECKOUT_MS,
      inlineStylesheet: true,
      collectFonts: true,
      recordCanvas: false,
      recordCrossOriginIframes: false,
      errorHandler: (e: unknown) => {
        this.fail(e);
        return true;
      },
    });
    this.schedule(FIRST_FLUSH_MS);
  }

  private listen(): void {
    const w = this.w;
    const on = (t: EventTarget, type: string, fn: (e: Event) => void, opts?: AddEventListenerOptions) => {
      const g = this.guard(fn);
      t.addEventListener(type, g, opts);
      this.undo.push(() => t.removeEventListener(type, g, opts));
    };
    on(w, 'pagehide', () => this.unload());
    on(w.document, 'visibilitychange', () => {
      const state = w.document.visibilityState === 'hidden' ? 'hidden' : 'visible';
      if (state === 'visible') {
        unstashPageView(this.st, this.k, this.pageView);
        this.activity(Date.now(), true);
      }
      this.custom('sl:visibility', { state });
      if (state === 'hidden') this.unload();
    });
    on(w, 'popstate', () => this.navigated());
    on(w, 'hashchange', () => this.navigated());
    on(w, 'error', (e) => {
      const ev = e as ErrorEvent;
      if (!ev.message && !ev.error) return; // resource load errors carry neither
      const err = ev.error as Error | undefined;
      this.error(String(ev.message || (err && err.message) || 'error'), err && err.stack, 'exception');
    });
    on(w, 'unhandledrejection', (e) => {
      const reason = (e as PromiseRejectionEvent).reason as { message?: unknown; stack?: unknown } | undefined;
      const msg = reason && typeof reason === 'object' && 'message' in reason ? String(reason.message) : String(reason);
      this.error(msg, reason && typeof reason.stack === 'string' ? reason.stack : undefined, 'rejection');
    });
    on(w, 'storage', (e) => {
      const se = e as StorageEvent;
      if (se.key === this.k + 'n') this.seqFloor = Math.max(this.seqFloor, storedSeq(se.newValue, this.session.i));
    });
    const h = w.history as unknown as Record<string, Fn>;
    for (const name of ['pushState', 'replaceState']) this.patch(h, name, () => this.navigated());
    const c = (w as unknown as { console: Record<string, Fn> }).console;
    let inside = false;
    this.patch(c, 'error', (...a: unknown[]) => {
      if (inside) return;
      inside = true;
      try {
        const err = a.find((x) => x instanceof Error) as Error | undefined;
        this.error(a.map(fmt).join(' '), err && err.stack, 'console');
      } finally {
        inside = false;
      }
    });
  }

  // patch calls after() behind the page's own function; undone on stop or failure (only while the
  // patched function is still ours, so a later patch by the page is never clobbered).
  private patch(obj: Record<string, Fn>, name: string, after: (...a: unknown[]) => void): void {
    const orig = obj[name];
    if (typeof orig !== 'function') return;
    const guarded = this.guard(after);
    const wrapped = function (this: unknown, ...a: unknown[]) {
      const r = orig.apply(this, a);
      guarded(...a);
      return r;
    };
    obj[name] = wrapped;
    this.undo.push(() => {
      if (obj[name] === wrapped) obj[name] = orig;
    });
  }

  private onEvent(ev: RREvent): void {
    if (this.state !== 'on') return;
    if (ev.type === 3 && ev.data && ACTIVITY.indexOf(ev.data.source as number) >= 0) this.activity(ev.timestamp);
    if (this.expired) return;
    if (this.dropping) {
      if (!this.transport.fits(FLUSH_BYTES)) return;
      // Room again: resume with a fresh full snapshot so replay is whole after the gap.
      this.dropping = false;
      this.resnapshot();
      return;
    }
    if (this.awaiting) {
      if (ev.type !== 4) return; // incremental events before the new Meta + FullSnapshot are useless
      this.awaiting = false;
    }
    const s = JSON.stringify(ev);
    this.buf.push(s);
    this.bufBytes += s.length;
    if (this.bufBytes >= FLUSH_BYTES || this.buf.length >= FLUSH_EVENTS) this.flush();
  }

  // activity extends the shared session; when it has ended (idle, 4 h, or another tab started a
  // new one) this page view moves to the current session with a new full snapshot.
  private activity(now: number, force = false): void {
    if (!force && !this.expired && now - this.lastTouch < TOUCH_MS) return;
    this.lastTouch = now;
    const x = touchSession(this.st, this.k, now, this.cfg.sampleRate, Math.random);
    if (x.i === this.session.i) return;
    this.flush();
    this.session = x;
    this.pageView = randomId('p_');
    this.seqFloor = 0;
    this.expired = false;
    this.buf = [];
    this.bufBytes = 0;
    if (!x.p) return this.halt(false);
    this.resnapshot();
  }

  // resnapshot starts the page over with Meta + FullSnapshot (outside rrweb's emit callback).
  private resnapshot(): void {
    this.awaiting = true;
    setTimeout(this.guard(() => record.takeFullSnapshot(true)), 0);
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(
      this.guard(() => {
        this.timer = undefined;
        this.flush();
        if (this.state === 'on') this.schedule(FLUSH_MS);
      }),
      ms,
    );
  }

  // flush turns the buffered events into one envelope with the next sequence number.
  flush(): void {
    if (!this.buf.length) return;
    const now = Date.now();
    const cur = readSession(this.st, this.k);
    const mine = cur && cur.i === this.session.i ? cur : this.session;
    if (!live(mine, now)) {
      // Ended while the page was idle: what the page did meanwhile belongs to no session.
      this.expired = true;
      this.buf = [];
      this.bufBytes = 0;
      return;
    }
    if (!this.transport.fits(this.bufBytes + 1024)) {
      this.dropping = true;
      this.truncated = true;
      this.buf = [];
      this.bufBytes = 0;
      return;
    }
    const seq = nextSeq(this.st, this.k, this.session.i, this.seqFloor);
    this.seqFloor = seq + 1;
    const w = this.w;
    const head = {
      v: 1,
      siteKey: this.cfg.siteKey,
      sessionId: this.session.i,
      visitorId: this.visitor,
      pageViewId: this.pageView,
      seq,
      clientTime: now,
      page: { url: w.location.href, referrer: this.referrer, viewport: { w: w.innerWidth, h: w.innerHeight } },
      traceparent: traceparent(),
      truncated: this.truncated,
    };
    const json = JSON.stringify(head).slice(0, -1) + ',"events":[' + this.buf.join(',') + ']}';
    this.buf = [];
    this.bufBytes = 0;
    this.truncated = false;
    this.transport.push(seq, json);
  }

  private unload(): void {
    this.flush();
    this.transport.unload();
    // Kept in memory too: if the page comes back (it was only hidden) the queue sends them and the
    // stashed copies are withdrawn; if it does not, the next page sends them.
    stash(this.st, this.k, this.transport.pending());
  }

  private navigated(): void {
    const href = this.w.location.href;
    if (href === this.url) return;
    const from = this.url;
    this.url = href;
    this.referrer = from;
    if (++this.navigations <= MAX_NAVIGATIONS) this.custom('sl:navigation', { url: href, referrer: from });
  }

  private error(message: string, stack: string | undefined, source: string): void {
    if (++this.errors > MAX_ERRORS) return;
    const p: Record<string, string> = { message: message.slice(0, MAX_MESSAGE), source };
    if (stack) p.stack = String(stack).slice(0, MAX_STACK);
    this.custom('sl:error', p);
  }

  private custom(tag: string, payload: unknown): void {
    if (this.state !== 'on' || this.expired) return;
    record.addCustomEvent(tag, payload);
  }

  command(a: unknown[]): void {
    this.guard(() => {
      switch (a[0]) {
        case 'identify': {
          const p = identifyPayload(a[1], a[2]);
          if (p) this.custom('sl:identify', p);
          break;
        }
        case 'event': {
          const p = eventPayload(a[1], a[2]);
          if (p) this.custom('sl:event', p);
          break;
        }
        case 'consent':
          if (a[1]) {
            this.st.set(this.k + 'c', '1');
            this.st.del(this.k + 'o');
          } else {
            this.halt(true);
            forget(this.st, this.k);
          }
          break;
        case 'stop':
          this.halt(false);
          break;
      }
    })();
  }

  // halt stops recording. discarding also drops everything not yet sent: after a consent refusal
  // (or when ingest refuses the site) nothing more leaves the page.
  private halt(forgetting: boolean): void {
    if (this.state === 'on' && !forgetting) this.flush();
    this.state = 'off';
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopRec) {
      const s = this.stopRec;
      this.stopRec = undefined;
      try {
        s();
      } catch {
        /* already broken */
      }
    }
    for (const u of this.undo.splice(0)) {
      try {
        u();
      } catch {
        /* ignore */
      }
    }
    if (forgetting) {
      this.buf = [];
      this.bufBytes = 0;
      this.transport.clear();
    } else {
      // Batches still queued (retrying) leave with sendBeacon when the page goes away.
      const t = this.transport;
      const bye = () => {
        try {
          t.unload();
          stash(this.st, this.k, t.pending());
        } catch {
          /* ignore */
        }
      };
      this.w.addEventListener('pagehide', bye);
      this.w.document.addEventListener('visibilitychange', () => {
        if (this.w.document.visibilityState === 'hidden') bye();
      });
    }
  }

  private fail(e: unknown): void {
    if (this.failed) return;
    this.failed = true;
    try {
      const err = e as { message?: unknown; stack?: unknown } | null;
      const payload = {
        message: ('sightline: ' + String(err && typeof err === 'object' ? err.message : err)).slice(0, MAX_MESSAGE),
        stack: err && typeof err.stack === 'string' ? err.stack.slice(0, MAX_STACK) : '',
        source: 'tracker',
      };
      if (this.state === 'on' && !this.expired && !this.dropping) {
        const ev = { type: 5, data: { tag: 'sl:error', payload }, timestamp: Date.now() };
        const s = JSON.stringify(ev);
        this.buf.push(s);
        this.bufBytes += s.length;
      }
    } catch {
      /* nothing more to do */
    }
    try {
      this.halt(false);
    } catch {
      /* disabled either way */
    }
  }
}

interface RREvent {
  type: number;
  data?: { source?: unknown; [k: string]: unknown };
  timestamp: number;
}

function fmt(x: unknown): string {
  if (typeof x === 'string') return x;
  if (x instanceof Error) return x.name + ': ' + x.message;
  try {
    return JSON.stringify(x) ?? String(x);
  } catch {
    return String(x);
  }
}

try {
  start(window as Window & { sightline?: Global });
} catch {
  /* never break the page */
}
