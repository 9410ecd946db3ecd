// The bootstrap: the script ingest serves at /s/<site_key>.js with the site's settings inlined in
// place of the "__SIGHTLINE_CONFIG__" literal. It installs the command queue (window.sightline),
// decides whether this visit is recorded (Do-Not-Track, consent, sampling — once per session) and
// only then loads the recorder. When the site has a feedback widget or a survey for this page (page
// rules, start/end window) it also loads the feedback bundle, sampled in or not, behind the same
// Do-Not-Track and consent gates; SPA navigations re-check. Behind the same gates it sends the
// traffic beacons of every visitor, sampled in or not (hits.ts). It must stay small (on every page)
// and never throw into the page.
import { webStore } from './store';
import { matchPages, type PageRule } from './feedback/pagerule';
import { prefix, forget, type Session } from './session';
import { blocked } from './gate';
import { traffic } from './hits';

interface Raw {
  siteKey: string;
  recorderUrl: string;
  sampleRate?: number;
  recording?: boolean;
  hitEndpoint?: string;
  respectDnt?: boolean;
  requireConsent?: boolean;
  feedbackUrl?: string;
  feedback?: { pages?: PageRule[] } | null;
  surveys?: { target?: { pages?: PageRule[] }; start?: number | null; end?: number | null }[];
}

type Cmd = IArguments | unknown[];
interface Stub {
  (...a: unknown[]): void;
  q?: Cmd[];
  c?: Raw;
  l?: number;
  s?: Session;
  h?: (a: Cmd) => void;
}

(function (c: Raw) {
  try {
    const w = window as unknown as { sightline?: Stub; top: Window; parent: { sightline?: Stub } };
    if (!c || !c.siteKey) return; // also the unrendered template: a string
    const s = w.sightline;
    if (s && s.l) return; // loaded twice: the first copy owns the page
    // A same-origin parent that records already captures this frame through rrweb.
    if (w.top !== (w as unknown as Window)) {
      try {
        if (w.parent.sightline) return;
      } catch {
        /* cross-origin parent: record this frame on its own */
      }
    }
    const st = webStore(() => localStorage);
    const k = prefix(c.siteKey);
    let loaded = 0;
    let fb = 0;
    const add = (src: string) => {
      const e = document.createElement('script');
      e.async = true;
      e.src = src;
      (document.head || document.documentElement).appendChild(e);
    };
    // active: the feedback bundle has something to show on this page. The bundle itself follows
    // the page from then on.
    const active = () => {
      const h = location.href;
      const now = Date.now();
      return (
        (c.feedback && matchPages(c.feedback.pages, h)) ||
        (c.surveys || []).some((v) => v && matchPages(v.target && v.target.pages, h) && !(v.start! > now) && !(v.end && v.end < now))
      );
    };
    // may: the gates allow this visitor. Traffic and the feedback bundle do not depend on
    // recording being on for the site.
    const may = () => !blocked(c, st, k, navigator, window);
    const t = traffic(c, st, k, may);
    const start = () => {
      if (!may()) return;
      let x: Session | '' | undefined;
      try {
        x = t.view(); // the session, with its sampling decision
      } catch {
        /* the page broke JSON: the recorder decides, with clean copies of it */
      }
      if (!fb && c.feedbackUrl && active()) {
        fb = 1;
        add(c.feedbackUrl);
      }
      if (loaded || c.recording === false || (x && !x.p)) return;
      f.s = x as Session; // the decision, for a recorder that finds storage unavailable
      loaded = 1;
      add(c.recorderUrl);
    };
    // h acts on a call; the recorder, once it owns window.sightline, passes every call on to it.
    const h = (a: Cmd) => {
      try {
        if (a[0] == 'consent') {
          if (a[1]) {
            st.set(k + 'c', '1');
            st.del(k + 'o');
            // Counts on this page even where storage cannot remember it (the recorder and the
            // feedback bundle read the same settings).
            c.requireConsent = false;
            start();
          } else forget(st, k);
        }
        if (a[0] == 'event') t.event(a[1]);
      } catch {
        /* never break the page */
      }
    };
    const f: Stub = function () {
      // eslint-disable-next-line prefer-rest-params
      f.q!.push(arguments);
      // eslint-disable-next-line prefer-rest-params
      h(arguments);
    };
    f.c = c;
    f.l = 1;
    f.h = h;
    // The queue stays reachable through the settings after the recorder replaces the global: the
    // feedback bundle reads identify calls and consent from it.
    (c as { q?: Cmd[] }).q = f.q = [];
    w.sightline = f;
    // Calls the snippet's stub queued go through f, in order: a consent given (or refused) before
    // this script arrived counts like one given after.
    for (const a of (s && s.q) || []) f.apply(0, a as unknown[]);
    // A single-page app's navigation is a new page view; it may also reach a page the feedback
    // bundle targets: re-check until the bundle is loaded (it follows navigations itself).
    const check = () => {
      try {
        t.nav();
      } catch {
        /* never break the page */
      }
      setTimeout(() => fb || start());
    };
    const hs = history as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const n of ['pushState', 'replaceState']) {
      const o = hs[n];
      try {
        hs[n] = function (this: unknown) {
          // eslint-disable-next-line prefer-rest-params
          const r = o.apply(this, arguments as unknown as unknown[]);
          check(); // the URL has changed now
          return r;
        };
      } catch {
        /* frozen History: popstate still counts */
      }
    }
    addEventListener('popstate', check);
    start();
  } catch {
    /* never break the page */
  }
})("__SIGHTLINE_CONFIG__" as unknown as Raw);
