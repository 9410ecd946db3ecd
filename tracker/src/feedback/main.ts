// The feedback bundle: loaded by the bootstrap only where the site has a feedback widget or a
// survey for the page (page rules, start/end window), whether or not the visit is recorded, and
// only past the Do-Not-Track and consent gates. It shows the widget where its page rules match,
// arms the surveys whose targeting holds, follows SPA navigations, and sends answers to ingest.
// Nothing here may throw into the page: every entry point is guarded.
import { webStore, storageWorks, type Store } from '../store';
import { prefix, readSession, live, touchSession, visitorId } from '../session';
import { blocked } from '../gate';
import { randomId } from '../ids';
import { identifyPayload } from '../api';
import type { FeedbackSettings, SurveySettings } from '../config';
import { feedbackSettings, surveysSettings } from './settings';
import { matchPages } from './pagerule';
import { device, eligible, readState, writeState, returning, sampled } from './logic';
import { arm } from './trigger';
import { mountWidget, mountSurvey, type Mounted } from './ui';
import { payload, post, type FeedbackAnswer, type SurveyAnswer } from './send';

type Args = ArrayLike<unknown>;
interface Global {
  (...a: unknown[]): void;
  q?: Args[];
  c?: Record<string, unknown> & { siteKey?: unknown; answerEndpoint?: unknown; q?: Args[]; __f?: number };
  r?: number;
  p?: unknown;
}
type Win = Window & { sightline?: Global };

const guard =
  <A extends unknown[]>(f: (...a: A) => void) =>
  (...a: A) => {
    try {
      f(...a);
    } catch {
      /* never break the page */
    }
  };

// listen sees every sightline(...) call the page makes from now on, whoever owns window.sightline
// (the bootstrap's queue, then the recorder, which replaces it): the global becomes an accessor
// whose value is a transparent proxy of the current owner (its properties pass through).
function listen(w: Win, on: (a: Args) => void): boolean {
  const wrap = (f: unknown) =>
    typeof f == 'function'
      ? new Proxy(f, {
          apply(t, self, args) {
            const r = Reflect.apply(t, self, args);
            guard(on)(args);
            return r;
          },
        })
      : f;
  let cur = wrap(w.sightline);
  try {
    Object.defineProperty(w, 'sightline', {
      configurable: true,
      enumerable: true,
      get: () => cur,
      set: (v) => (cur = wrap(v)),
    });
    return true;
  } catch {
    return false; // a non-configurable global (`var sightline`): calls before load still count
  }
}

export function boot(w: Win): void {
  const g = w.sightline;
  const raw = g && g.c;
  if (!g || !raw || typeof raw.siteKey != 'string' || typeof raw.answerEndpoint != 'string' || raw.__f) return;
  raw.__f = 1; // loaded twice: the first copy owns the page
  const siteKey = raw.siteKey;
  const endpoint = raw.answerEndpoint + (raw.answerEndpoint.indexOf('?') < 0 ? '?' : '&') + 'k=' + encodeURIComponent(siteKey);
  const fb: FeedbackSettings | null = feedbackSettings(raw.feedback);
  const surveys: SurveySettings[] = surveysSettings(raw.surveys);
  const rate = typeof raw.sampleRate == 'number' ? raw.sampleRate : 1;
  const ls = () => w.localStorage;
  const stored = storageWorks(ls);
  const st: Store = webStore(ls);
  const k = prefix(siteKey);
  const d = w.document;
  const nav = w.navigator;
  const langs = nav.languages || [nav.language];
  const touch = nav.maxTouchPoints || 0;
  const ownPageView = randomId('p_');
  const attrs: Record<string, string> = {};
  const seen = new Set<string>(); // custom events of this page view
  const listeners = new Map<string, Set<() => void>>();
  let granted = false;
  let refused = false;
  let navAt = 0;
  let ready = false; // past the calls queued before the bundle loaded

  const command = (a: Args) => {
    if (a[0] === 'identify') {
      const p = identifyPayload(a[1], a[2]);
      if (p) Object.assign(attrs, p.attributes);
      if (ready) w.setTimeout(guard(update)); // a survey may target the attributes just given
    } else if (a[0] === 'event' && typeof a[1] == 'string') {
      seen.add(a[1]);
      for (const f of listeners.get(a[1]) || []) f();
    } else if (a[0] === 'consent') {
      granted = !!a[1];
      refused = !a[1];
      if (refused) {
        // Forget what this bundle stored too, and take everything off the page.
        st.del(k + 'f');
        st.del(k + 'y');
      }
      if (ready) update(); // queued calls replay before the rest of boot() exists
    }
  };
  for (const a of (g.q || raw.q || []).slice()) command(a);

  const allowed = () => !refused && !blocked({ respectDnt: raw.respectDnt as boolean, requireConsent: raw.requireConsent === true && !granted }, st, k, nav, w);

  const ids = () => {
    const now = Date.now();
    const x = readSession(st, k);
    const sessionId = x && live(x, now) ? x.i : touchSession(st, k, now, rate, Math.random).i;
    const cur = w.sightline;
    // The recorder runs when it owns the global (it has no queue); it may say its page view id.
    const recorded = !!cur && !!cur.r && !cur.q;
    const pv = recorded && cur!.p;
    const pageViewId = typeof pv == 'function' ? String(pv()) : typeof pv == 'string' ? pv : ownPageView;
    return { siteKey, sessionId, visitorId: visitorId(st, k), pageViewId, recorded };
  };

  const send = (a: FeedbackAnswer | SurveyAnswer, lang: string) => {
    if (!allowed()) return;
    const p = payload(ids(), a, { url: w.location.href, w: w.innerWidth, h: w.innerHeight }, lang, Date.now());
    const cur = w.sightline;
    if (cur && cur.r && !cur.q) guard(() => cur('sl:answer', { id: p.id, kind: a.kind }))();
    void post(
      {
        fetch: typeof w.fetch == 'function' ? (u, i) => w.fetch(u, i) : undefined,
        beacon: nav.sendBeacon ? (u, b) => nav.sendBeacon(u, b) : undefined,
        wait: (ms) => new Promise((r) => w.setTimeout(r, ms)),
        rnd: Math.random,
      },
      endpoint,
      JSON.stringify(p),
    );
  };

  let host: HTMLElement | null = null;
  const getHost = () => {
    if (host && host.isConnected) return host;
    host = d.createElement('div');
    host.setAttribute('data-sightline', 'feedback');
    host.setAttribute('data-sl-block', ''); // never recorded: the widget is ours, not the page's
    const s = host.style;
    for (const [p, v] of [
      ['all', 'initial'],
      ['position', 'fixed'],
      ['top', '0'],
      ['left', '0'],
      ['width', '0'],
      ['height', '0'],
      ['overflow', 'visible'],
      ['z-index', '2147483000'],
      ['display', 'block'],
    ])
      s.setProperty(p, v, 'important');
    d.documentElement.appendChild(host);
    return host;
  };

  let widget: Mounted | null = null;
  let showing: Mounted | null = null;
  const armed = new Map<string, () => void>();

  const show = (s: SurveySettings) => {
    if (showing || !allowed()) return;
    const state = readState(st, k);
    state[s.id] = [state[s.id] ? state[s.id][0] : 1, 1];
    writeState(st, k, state);
    for (const [, off] of armed) off();
    armed.clear();
    const a = d.activeElement;
    showing = mountSurvey(getHost(), s, {
      languages: langs,
      color: fb ? fb.color : undefined,
      focus: !a || a === d.body || a === d.documentElement,
      onSubmit: guard(send),
      onClose: () => {
        showing = null;
      },
    });
  };

  function update() {
    const href = w.location.href;
    if (!allowed()) {
      if (widget) widget.destroy();
      if (showing) showing.destroy();
      widget = showing = null;
      for (const [, off] of armed) off();
      armed.clear();
      return;
    }
    const want = !!fb && matchPages(fb.pages, href);
    if (want && !widget) widget = mountWidget(getHost(), fb, { languages: langs, onSubmit: guard(send) });
    else if (!want && widget) (widget.destroy(), (widget = null));
    if (showing || !stored || !surveys.length) return; // without storage, once-per-visitor and sampling cannot hold
    const now = Date.now();
    const { sessionId } = ids();
    const v = { device: device(nav.userAgent, w.innerWidth, touch), returning: returning(st, k, sessionId), attrs, now };
    const state = readState(st, k);
    const arming: SurveySettings[] = [];
    for (const s of surveys) {
      const on = matchPages(s.target.pages, href) && eligible(s, v, state) && sampled(s, state, Math.random);
      const off = armed.get(s.id);
      if (on && !off) arming.push(s);
      else if (!on && off) {
        off();
        armed.delete(s.id);
      }
    }
    // Sampling decisions are stored before any trigger fires: one firing at once (on load) stores
    // that the survey was shown.
    writeState(st, k, state);
    for (const s of arming) {
      if (showing) break;
      const events = {
        on: (name: string, f: () => void) => {
          const set = listeners.get(name) || new Set();
          listeners.set(name, set.add(f));
          if (seen.has(name)) w.setTimeout(f);
          return () => set.delete(f);
        },
      };
      const off = arm(s.trigger, w, events, w.performance.now() - navAt, guard(() => show(s)), v.device !== 'desktop');
      if (!showing) armed.set(s.id, off);
    }
  }

  let last = w.location.href;
  const navigated = guard(() => {
    // Some apps replaceState on every scroll: only a new URL is a navigation.
    if (w.location.href === last) return;
    last = w.location.href;
    navAt = w.performance.now();
    seen.clear();
    w.setTimeout(guard(update));
  });
  const h = w.history as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const n of ['pushState', 'replaceState']) {
    const o = h[n];
    if (typeof o != 'function') continue;
    try {
      Object.defineProperty(h, n, {
        configurable: true,
        writable: true,
        value: function (this: unknown, ...a: unknown[]) {
          const r = o.apply(this, a);
          navigated();
          return r;
        },
      });
    } catch {
      /* a frozen History: popstate and hashchange still count */
    }
  }
  w.addEventListener('popstate', navigated);
  w.addEventListener('hashchange', navigated);
  listen(w, command);
  ready = true;
  update();
}

try {
  boot(window as Win);
} catch {
  /* never break the page */
}
