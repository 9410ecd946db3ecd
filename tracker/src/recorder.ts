// The recorder bundle: loaded by the bootstrap only for a visit that is sampled in and allowed
// (Do-Not-Track, consent). It records the page with rrweb, batches the events into wire-format
// envelopes (docs/wire-format.md) and hands them to the transport. Nothing the page does may stop
// the recording: every entry point from the page or the browser goes through guard(), which
// reports a failure as an sl:error event (source "tracker", a few per page view) and carries on;
// the page never sees an exception. Only a failure of rrweb's recording itself (broke()) restarts
// rrweb, once, with a fresh full snapshot, and a second one stops the recorder.
import { record } from '@rrweb/record';
import { normalizeConfig, type Config } from './config';
import { webStore, storageWorks, memoryStore, type Store } from './store';
import { prefix, touchSession, readSession, live, visitorId, nextSeq, storedSeq, forget, type Session } from './session';
import { stash, unstash, unstashPageView } from './stash';
import { blocked } from './gate';
import { randomId, traceparent } from './ids';
import { maskingOptions } from './masking';
import { pauseCanvasUntil } from './canvasgate';
import { keepStylesheetURLs } from './links';
import { MediaWatch } from './media';
import { view, clickAt } from './heat';
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
const MAX_TRACKER_ERRORS = 5; // sl:error events with source "tracker" per page view
const MAX_PENDING = 1000; // custom events held until rrweb's first full snapshot
const MAX_CONSOLE_ARGS = 10;
const MAX_FOCUS = 2000; // sl:focus events per page view (a page can move focus in a loop)
const MAX_MEDIA = 2000; // sl:media events per page view
const MAX_CLICKS = 2000; // sl:click events per page view
const MEDIA_MS = 250; // media sampling while the page has <video>/<audio>
const NO_MEDIA_MS = 2000; // how often a page without them is looked at again
// Canvas recording (opt-in per site): frames sampled per second, encoding, and the bytes of
// canvas mutation events one page view may send per minute.
const CANVAS_FPS = 2;
const CANVAS_IMAGE = { type: 'image/webp', quality: 0.6 };
const CANVAS_BYTES_PER_MIN = 2 * 1024 * 1024;
const CANVAS_MUTATION = 9;
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
  p?: () => string;
  h?: (a: unknown[]) => void;
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
  if (!cfg.recording || blocked(cfg, st, k, navigator, w)) return;
  const r = new Recorder(w, cfg, st, k);
  const api: Global = function (...a: unknown[]) {
    r.command(a);
    if (prev.h) prev.h(a); // the bootstrap's traffic beacons (its events) and gates follow every call
  };
  api.l = 1;
  api.r = 1;
  api.c = prev.c;
  api.p = () => r.pv(); // the feedback bundle ties answers to this page view
  w.sightline = api;
  r.begin();
  for (const a of queued) r.command(Array.prototype.slice.call(a));
}

// Members whose names end in "_" are private; the build shortens them (build.mjs), so such a name
// must never be a key of anything that leaves the bundle.
export class Recorder {
  private session: Session;
  private visitor_: string;
  private pageView_ = randomId('p_');
  private seqFloor_ = 0;
  private buf_: string[] = [];
  private bufBytes_ = 0;
  private truncated = false; // events were dropped since the last batch
  private dropping_ = false; // the transport queue is full: events are being dropped
  private expired_ = false; // the session ended while this page was idle
  private awaiting_ = false; // waiting for the Meta event of a fresh full snapshot
  private snapped_ = false; // the current full snapshot is out: custom events may follow it
  private pending_: RREvent[] = []; // custom events from before it, in order
  private gen_ = 0; // which rrweb run the emit callback belongs to
  private restarted_ = false;
  private trackerErrors_ = 0;
  private canvasFrom_ = 0; // start of the current canvas budget minute
  private canvasBytes_ = 0;
  private canvasOver_ = false;
  private focusQueued_ = false;
  private lastFocus_ = '';
  private focusCount_ = 0;
  private media = new MediaWatch();
  private mediaCount_ = 0;
  private clicks_ = 0;
  private mediaTimer_: ReturnType<typeof setTimeout> | undefined;
  private stopRec_: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastTouch_ = 0;
  private errors_ = 0;
  private navigations_ = 0;
  private state: 'idle' | 'on' | 'off' = 'idle';
  private url: string;
  private referrer: string;
  private undo_: (() => void)[] = [];
  private transport_: Transport;

  constructor(
    private w: Window,
    private cfg: Config,
    private st: Store,
    private k: string,
  ) {
    this.session = touchSession(st, k, Date.now(), cfg.sampleRate, Math.random);
    this.visitor_ = visitorId(st, k);
    this.url = w.location.href;
    this.referrer = w.document.referrer;
    const sep = cfg.endpoint.indexOf('?') < 0 ? '?' : '&';
    this.transport_ = new Transport({
      url: cfg.endpoint + sep + 'k=' + encodeURIComponent(cfg.siteKey),
      post: browserPost,
      beacon: browserBeacon,
      gzip: browserGzip(),
      setTimer: (fn, ms) => setTimeout(this.guard_(fn), ms),
      now: Date.now,
      rnd: Math.random,
      // A batch ingest refused for good (e.g. 413) is lost: say so on the next one. An unknown
      // site or a page origin the site does not list will refuse every batch: stop recording.
      onDrop: (_it, status) => {
        this.truncated = true;
        if (status === 403 || status === 404) this.guard_(() => this.halt_(true))();
      },
    });
  }

  // guard wraps every entry point; see the file comment.
  guard_<A extends unknown[]>(fn: (...a: A) => unknown): (...a: A) => void {
    return (...a: A) => {
      try {
        fn.apply(this, a);
      } catch (e) {
        this.oops_(e);
      }
    };
  }

  begin(): void {
    this.guard_(() => {
      // Left behind by an earlier page at page hide: they go first, in their order.
      for (const json of unstash(this.st, this.k)) this.transport_.push(-1, json);
      if (!this.session.p) return;
      this.startRecording_();
      this.listen_();
    })();
  }

  private startRecording_(): void {
    this.state = 'on';
    try {
      this.rrweb(this.cfg.recordCanvas);
    } catch (e) {
      this.broke_(e);
    }
    this.schedule_(FIRST_FLUSH_MS);
    this.watchMedia_();
  }

  // watchMedia samples the page's media elements (see media.ts) while recording.
  private watchMedia_(): void {
    if (this.mediaTimer_ !== undefined) return;
    const d = this.w.document;
    const lists = [d.getElementsByTagName('video'), d.getElementsByTagName('audio')];
    const tick = () => {
      this.mediaTimer_ = undefined;
      if (this.state !== 'on') return;
      let any = false;
      for (const els of lists) {
        if (!els.length) continue;
        any = true;
        if (!this.snapped_ || this.mediaCount_ >= MAX_MEDIA) continue;
        for (const s of this.media.check(Date.now(), els, (el) => record.mirror.getId(el as unknown as Node))) {
          if (this.mediaCount_++ < MAX_MEDIA) this.custom('sl:media', s);
        }
      }
      this.mediaTimer_ = setTimeout(this.guard_(tick), any ? MEDIA_MS : NO_MEDIA_MS);
    };
    this.mediaTimer_ = setTimeout(this.guard_(tick), MEDIA_MS);
  }

  // rrweb starts one recording run; events of an earlier run (before a restart) are ignored.
  private rrweb(canvas: boolean): void {
    const g = ++this.gen_;
    this.snapped_ = false;
    this.awaiting_ = false;
    const stop = record({
      emit: (ev: unknown) => {
        if (g !== this.gen_) return;
        try {
          this.onEvent_(ev as RREvent);
        } catch (e) {
          this.broke_(e);
        }
      },
      ...maskingOptions(this.cfg),
      maskInputOptions: { password: true },
      sampling: { mousemove: 50, mouseInteraction: true, scroll: 150, media: 800, input: 'all', ...(canvas ? { canvas: CANVAS_FPS } : {}) },
      dataURLOptions: canvas ? CANVAS_IMAGE : {},
      slimDOMOptions: 'all',
      // A fresh full snapshot every 10 minutes lets a replay start mid-session (recordings seeks
      // to the last chunk holding one).
      checkoutEveryNms: CHECKOUT_MS,
      inlineStylesheet: true,
      collectFonts: true,
      recordCanvas: canvas,
      recordCrossOriginIframes: false,
      errorHandler: (e: unknown) => {
        if (g === this.gen_) this.broke_(e);
        return true;
      },
    });
    // record() swallows its own start-up failures (it logs and returns nothing).
    if (!stop) throw new Error('rrweb did not start');
    if (g !== this.gen_) return stop(); // it failed while starting
    this.stopRec_ = stop;
  }

  // broke: rrweb's recording failed (its error handler, our emit path, or it did not start).
  // Stop that run and start a fresh one, with a new full snapshot, once — without canvas
  // recording, which patches the page's canvas contexts and is the part most exposed to unusual
  // pages; a second failure stops the recorder.
  private broke_(e: unknown): void {
    this.oops_(e);
    if (this.state !== 'on') return;
    this.gen_++;
    this.stopRrweb_();
    if (this.restarted_) return this.halt_(false);
    this.restarted_ = true;
    this.snapped_ = false;
    setTimeout(() => {
      if (this.state !== 'on') return;
      try {
        this.rrweb(false);
      } catch (x) {
        this.oops_(x);
        this.halt_(false);
      }
    }, 0);
  }

  private stopRrweb_(): void {
    const s = this.stopRec_;
    this.stopRec_ = undefined;
    if (s)
      try {
        s();
      } catch {
        /* already broken */
      }
  }

  // oops reports a failure of the tracker's own code (a listener, a timer, an API call with
  // hostile arguments) and carries on: one bad input must not cost the page view its recording.
  // Reporting can fail too (a page that breaks everything); that is swallowed here.
  private oops_(e: unknown): void {
    try {
      if (++this.trackerErrors_ > MAX_TRACKER_ERRORS) return;
      const err = e as { message?: unknown; stack?: unknown } | null;
      this.custom('sl:error', {
        message: ('sightline: ' + String(err && typeof err === 'object' ? err.message : err)).slice(0, MAX_MESSAGE),
        stack: err && typeof err === 'object' && typeof err.stack === 'string' ? err.stack.slice(0, MAX_STACK) : '',
        source: 'tracker',
      });
    } catch {
      /* nothing more to do */
    }
  }

  private listen_(): void {
    const w = this.w;
    const on = (t: EventTarget, type: string, fn: (e: Event) => void, opts?: AddEventListenerOptions) => {
      const g = this.guard_(fn);
      t.addEventListener(type, g, opts);
      this.undo_.push(() => t.removeEventListener(type, g, opts));
    };
    on(w, 'pagehide', () => this.unload());
    on(w.document, 'visibilitychange', () => {
      const state = w.document.visibilityState === 'hidden' ? 'hidden' : 'visible';
      if (state === 'visible') {
        unstashPageView(this.st, this.k, this.pageView_);
        this.activity_(Date.now(), true);
      }
      this.custom('sl:visibility', { state });
      if (state === 'hidden') this.unload();
    });
    // Focus for the replay's focus ring: one sl:focus per task however many focusin/focusout.
    on(w.document, 'focusin', () => this.focusSoon_(), { capture: true });
    on(w.document, 'focusout', () => this.focusSoon_(), { capture: true });
    on(w.document, 'click', (e) => this.clicked_(e as MouseEvent), { capture: true });
    // A CSP that forbids connecting to ingest refuses every batch, each attempt logging a
    // violation in the page's console: stop quietly at the first one.
    on(w.document, 'securitypolicyviolation', (e) => {
      const v = e as SecurityPolicyViolationEvent;
      if (v.disposition === 'enforce' && sameOrigin(v.blockedURI, this.cfg.endpoint, w.location.href)) this.halt_(true);
    });
    on(w, 'popstate', () => this.navigated_());
    on(w, 'hashchange', () => this.navigated_());
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
      if (se.key === this.k + 'n') this.seqFloor_ = Math.max(this.seqFloor_, storedSeq(se.newValue, this.session.i));
    });
    const h = w.history as unknown as Record<string, Fn>;
    for (const name of ['pushState', 'replaceState']) this.patch(h, name, () => this.navigated_());
    const c = (w as unknown as { console: Record<string, Fn> }).console;
    let inside = false;
    this.patch(c, 'error', (...a: unknown[]) => {
      // A console.error storm costs one comparison per call once the page view's errors are in.
      if (inside || this.errors_ >= MAX_ERRORS) return;
      inside = true;
      try {
        const b = a.slice(0, MAX_CONSOLE_ARGS);
        const err = b.find((x) => x instanceof Error) as Error | undefined;
        this.error(b.map(fmt).join(' '), err && err.stack, 'console');
      } finally {
        inside = false;
      }
    });
  }

  // patch calls after() behind the page's own function; undone on stop (only while the patched
  // function is still ours, so a later patch by the page is never clobbered). It defines an own
  // property, which works where an assignment would not: a frozen History.prototype makes the
  // inherited pushState read-only.
  private patch(obj: Record<string, Fn>, name: string, after: (...a: unknown[]) => void): void {
    const orig = obj[name];
    if (typeof orig !== 'function') return;
    const own = Object.getOwnPropertyDescriptor(obj, name);
    const guarded = this.guard_(after);
    const wrapped = function (this: unknown, ...a: unknown[]) {
      const r = orig.apply(this, a);
      guarded(...a);
      return r;
    };
    try {
      Object.defineProperty(obj, name, { value: wrapped, writable: true, configurable: true, enumerable: own ? own.enumerable : false });
    } catch {
      return; // non-configurable or not extensible: record without it
    }
    this.undo_.push(() => {
      if (obj[name] !== wrapped) return;
      if (own) Object.defineProperty(obj, name, own);
      else delete obj[name];
    });
  }

  private onEvent_(ev: RREvent): void {
    if (this.state !== 'on') return;
    const src = ev.type === 3 && ev.data ? (ev.data.source as number) : -1;
    if (ACTIVITY.indexOf(src) >= 0) this.activity_(ev.timestamp);
    if (this.expired_) return;
    if (src === CANVAS_MUTATION) {
      const s = JSON.stringify(ev);
      if (this.canvasFits_(s.length, ev.timestamp)) this.add(ev, s);
      return;
    }
    if (ev.type === 2 || src === 0) {
      try {
        keepStylesheetURLs(ev, (id) => record.mirror.getNode(id));
      } catch {
        /* the URLs only help capture and replay; the event goes out as rrweb made it */
      }
    }
    this.add(ev);
  }

  // add buffers one event for the next batch.
  private add(ev: RREvent, s?: string): void {
    if (this.dropping_) {
      if (!this.transport_.fits(FLUSH_BYTES)) return;
      // Room again: resume with a fresh full snapshot so replay is whole after the gap.
      this.dropping_ = false;
      this.resnapshot_();
      return;
    }
    if (this.awaiting_) {
      if (ev.type !== 4) return; // incremental events before the new Meta + FullSnapshot are useless
      this.awaiting_ = false;
    }
    // sl:view opens every batch (not held like other custom events: it describes this batch). A
    // Meta starts a new snapshot with new node ids: the document's is unknown until it (-1).
    if (!this.buf_.length)
      try {
        this.put_(JSON.stringify({ type: 5, data: { tag: 'sl:view', payload: view(this.w, ev.type === 4 ? -1 : record.mirror.getId(this.w.document)) }, timestamp: ev.timestamp }));
      } catch {
        /* a page without a root element: the batch goes without it */
      }
    this.put_(s === undefined ? JSON.stringify(ev) : s);
    if (ev.type === 2) this.snapshotted_(ev.timestamp);
    if (this.bufBytes_ >= FLUSH_BYTES || this.buf_.length >= FLUSH_EVENTS) this.flush();
  }

  private put_(s: string): void {
    this.buf_.push(s);
    this.bufBytes_ += s.length;
  }

  // snapshotted: a full snapshot is out. The custom events held back until now follow it in their
  // order (stamped no earlier than the snapshot, so a replayer that sorts by time keeps them after
  // it), then the focus at that instant.
  private snapshotted_(at: number): void {
    this.snapped_ = true;
    const held = this.pending_;
    this.pending_ = [];
    for (const e of held) {
      if (e.timestamp < at) e.timestamp = at;
      this.add(e);
    }
    this.lastFocus_ = '';
    this.focus(true);
    this.media.reset();
  }

  // canvasFits counts the bytes of canvas frames per minute of the page view. Over the budget,
  // sampling pauses for the rest of that minute (frames already being encoded are dropped; each
  // frame is a whole image, so the next one sent stands on its own) and one sl:canvas-budget
  // event marks the gap.
  private canvasFits_(bytes: number, now: number): boolean {
    if (now - this.canvasFrom_ >= 60000) {
      this.canvasFrom_ = now;
      this.canvasBytes_ = 0;
      this.canvasOver_ = false;
    }
    if (this.canvasOver_) return false;
    if (this.canvasBytes_ + bytes <= CANVAS_BYTES_PER_MIN) {
      this.canvasBytes_ += bytes;
      return true;
    }
    this.canvasOver_ = true;
    pauseCanvasUntil(this.canvasFrom_ + 60000); // and stop sampling until then
    this.custom('sl:canvas-budget', { bytes: this.canvasBytes_, limit: CANVAS_BYTES_PER_MIN, resume: this.canvasFrom_ + 60000 });
    return false;
  }

  // clicked sends sl:click for a click: rrweb's node id of the target it reports (composedPath()[0])
  // and where the click hit (heat.ts). Sent a task later, so it follows rrweb's own click event
  // even when rrweb's listener was added after ours (rrweb starts observing at load); the box is
  // read now, before the page reacts to the click.
  private clicked_(e: MouseEvent): void {
    const t = e.composedPath()[0] as Element;
    const id = t && t.nodeType === 1 ? record.mirror.getId(t) : -1;
    if (id < 1 || this.clicks_ >= MAX_CLICKS) return;
    this.clicks_++;
    const p = { id, ...clickAt(e, t) };
    setTimeout(this.guard_(() => this.custom('sl:click', p)), 0);
  }

  private focusSoon_(): void {
    if (this.focusQueued_) return;
    this.focusQueued_ = true;
    setTimeout(
      this.guard_(() => {
        this.focusQueued_ = false;
        this.focus(false);
      }),
      0,
    );
  }

  // focus emits sl:focus when the focused element changed (right after a full snapshot: only when
  // something is focused). id is rrweb's mirror id, null for the body or nothing. Before the
  // first snapshot no node has an id yet: the snapshot reports the focus then.
  private focus(snapshot: boolean): void {
    if (!this.snapped_) return;
    const f = focused(this.w.document);
    const key = f.id + ' ' + f.visible;
    if (key === this.lastFocus_ || (snapshot && f.id === null) || this.focusCount_ >= MAX_FOCUS) return;
    this.focusCount_++;
    this.lastFocus_ = key;
    this.custom('sl:focus', f);
  }

  // activity extends the shared session; when it has ended (idle, 4 h, or another tab started a
  // new one) this page view moves to the current session with a new full snapshot.
  private activity_(now: number, force = false): void {
    if (!force && !this.expired_ && now - this.lastTouch_ < TOUCH_MS) return;
    this.lastTouch_ = now;
    const x = touchSession(this.st, this.k, now, this.cfg.sampleRate, Math.random);
    if (x.i === this.session.i) return;
    this.flush();
    this.session = x;
    this.pageView_ = randomId('p_');
    this.seqFloor_ = 0;
    this.expired_ = false;
    this.buf_ = [];
    this.bufBytes_ = 0;
    if (!x.p) return this.halt_(false);
    this.resnapshot_();
  }

  // resnapshot starts the page over with Meta + FullSnapshot (outside rrweb's emit callback).
  private resnapshot_(): void {
    this.awaiting_ = true;
    this.snapped_ = false;
    const g = this.gen_;
    setTimeout(() => {
      if (g !== this.gen_ || this.state !== 'on') return;
      try {
        record.takeFullSnapshot(true);
      } catch (e) {
        this.broke_(e);
      }
    }, 0);
  }

  private schedule_(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      this.guard_(() => {
        this.timer = undefined;
        this.flush();
        if (this.state === 'on') this.schedule_(FLUSH_MS);
      }),
      ms,
    );
  }

  // flush turns the buffered events into one envelope with the next sequence number.
  flush(): void {
    if (!this.buf_.length) return;
    const now = Date.now();
    const cur = readSession(this.st, this.k);
    const mine = cur && cur.i === this.session.i ? cur : this.session;
    if (!live(mine, now)) {
      // Ended while the page was idle: what the page did meanwhile belongs to no session.
      this.expired_ = true;
      this.buf_ = [];
      this.bufBytes_ = 0;
      return;
    }
    if (!this.transport_.fits(this.bufBytes_ + 1024)) {
      this.dropping_ = true;
      this.truncated = true;
      this.buf_ = [];
      this.bufBytes_ = 0;
      return;
    }
    const seq = nextSeq(this.st, this.k, this.session.i, this.seqFloor_);
    this.seqFloor_ = seq + 1;
    const w = this.w;
    const head = {
      v: 1,
      siteKey: this.cfg.siteKey,
      sessionId: this.session.i,
      visitorId: this.visitor_,
      pageViewId: this.pageView_,
      seq,
      clientTime: now,
      page: { url: w.location.href, referrer: this.referrer, viewport: { w: w.innerWidth, h: w.innerHeight } },
      traceparent: traceparent(),
      truncated: this.truncated,
    };
    const json = JSON.stringify(head).slice(0, -1) + ',"events":[' + this.buf_.join(',') + ']}';
    this.buf_ = [];
    this.bufBytes_ = 0;
    this.truncated = false;
    this.transport_.push(seq, json);
  }

  private unload(): void {
    this.flush();
    this.transport_.unload();
    // Kept in memory too: if the page comes back (it was only hidden) the queue sends them and the
    // stashed copies are withdrawn; if it does not, the next page sends them.
    stash(this.st, this.k, this.transport_.pending());
  }

  private navigated_(): void {
    const href = this.w.location.href;
    if (href === this.url) return;
    const from = this.url;
    this.url = href;
    this.referrer = from;
    if (++this.navigations_ <= MAX_NAVIGATIONS) this.custom('sl:navigation', { url: href, referrer: from });
  }

  private error(message: string, stack: string | undefined, source: string): void {
    if (++this.errors_ > MAX_ERRORS) return;
    const p: Record<string, string> = { message: message.slice(0, MAX_MESSAGE), source };
    if (stack) p.stack = String(stack).slice(0, MAX_STACK);
    this.custom('sl:error', p);
  }

  // custom adds an event of ours (rrweb's Custom type) without going through rrweb, which refuses
  // them before its first full snapshot: until then they are held, in order, a bounded number.
  private custom(tag: string, payload: unknown): void {
    if (this.state !== 'on' || this.expired_) return;
    const ev: RREvent = { type: 5, data: { tag, payload }, timestamp: Date.now() };
    if (this.snapped_) return this.add(ev);
    if (this.pending_.length < MAX_PENDING) this.pending_.push(ev);
    else this.truncated = true;
  }

  pv(): string {
    return this.pageView_;
  }

  command(a: unknown[]): void {
    this.guard_(() => {
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
            this.halt_(true);
            forget(this.st, this.k);
          }
          break;
        case 'stop':
          this.halt_(false);
          break;
        case 'sl:answer': {
          // The feedback bundle marks where an answer was given, for the replay.
          const p = a[1] as { id?: unknown; kind?: unknown } | undefined;
          if (p && typeof p.id == 'string' && p.id.length < 80) this.custom('sl:answer', { id: p.id, kind: p.kind == 'survey' ? 'survey' : 'feedback' });
          break;
        }
      }
    })();
  }

  // halt stops recording. discarding also drops everything not yet sent: after a consent refusal
  // (or when ingest refuses the site) nothing more leaves the page.
  private halt_(forgetting: boolean): void {
    if (this.state === 'on' && !forgetting) {
      // Held events (a failure report among them) still go out, even without a snapshot.
      for (const e of this.pending_.splice(0)) this.put_(JSON.stringify(e));
      this.flush();
    }
    this.state = 'off';
    this.gen_++;
    clearTimeout(this.timer);
    this.timer = undefined;
    clearTimeout(this.mediaTimer_);
    this.mediaTimer_ = undefined;
    this.stopRrweb_();
    for (const u of this.undo_.splice(0)) {
      try {
        u();
      } catch {
        /* ignore */
      }
    }
    if (forgetting) {
      this.buf_ = [];
      this.bufBytes_ = 0;
      this.transport_.clear();
    } else {
      // Batches still queued (retrying) leave with sendBeacon when the page goes away.
      const t = this.transport_;
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
}

interface RREvent {
  type: number;
  data?: { source?: unknown; [k: string]: unknown };
  timestamp: number;
}

// focused finds the element with focus, into same-origin frames and open shadow roots (rrweb's
// mirror holds their nodes too), and whether the browser would show its focus ring.
function focused(d: Document): { id: number | null; visible: boolean } {
  let el: Element | null = d.activeElement;
  for (let i = 0; el && i < 8; i++) {
    let inner: Element | null = null;
    try {
      const doc = el.tagName === 'IFRAME' ? (el as HTMLIFrameElement).contentDocument : null;
      inner = el.shadowRoot ? el.shadowRoot.activeElement : doc ? doc.activeElement : null;
      if (doc && inner && (inner === doc.body || inner === doc.documentElement)) inner = null;
    } catch {
      /* cross-origin frame */
    }
    if (!inner) break;
    el = inner;
  }
  if (!el || el === d.body || el === d.documentElement) return { id: null, visible: false };
  const id = record.mirror.getId(el as unknown as Node);
  let visible = false;
  try {
    visible = el.matches(':focus-visible');
  } catch {
    /* a browser without :focus-visible */
  }
  return { id: id > 0 ? id : null, visible };
}

function sameOrigin(blocked: string, endpoint: string, base: string): boolean {
  try {
    return new URL(blocked, base).origin === new URL(endpoint, base).origin;
  } catch {
    return false;
  }
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
