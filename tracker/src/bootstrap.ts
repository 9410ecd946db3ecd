// The bootstrap: the script ingest serves at /s/<site_key>.js with the site's settings inlined in
// place of the "__SIGHTLINE_CONFIG__" literal. It installs the command queue (window.sightline),
// decides whether this visit is recorded (Do-Not-Track, consent, sampling — once per session) and
// only then loads the recorder. When the site has a feedback widget or a survey for this page (page
// rules, start/end window) it also loads the feedback bundle, sampled in or not, behind the same
// Do-Not-Track and consent gates; SPA navigations re-check. It must stay small (on every page) and
// never throw into the page.
import { webStore } from './store';
import { matchPages, type PageRule } from './feedback/pagerule';
import { prefix, touchSession, forget, type Session } from './session';
import { blocked } from './gate';

interface Raw {
  siteKey: string;
  recorderUrl: string;
  sampleRate?: number;
  recording?: boolean;
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
}

(function (c: Raw | string) {
  try {
    const w = window as unknown as { sightline?: Stub; top: Window; parent: { sightline?: Stub } };
    if (typeof c != 'object' || !c || !c.siteKey) return;
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
    let granted = 0;
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
    const start = () => {
      // granted: consent given on this page counts even where storage cannot remember it.
      const g = granted ? { ...c, requireConsent: false } : c;
      if (!fb && c.feedbackUrl && !blocked({ ...g, recording: true }, st, k, navigator, window) && active()) {
        fb = 1;
        add(c.feedbackUrl);
      }
      if (loaded || blocked(g, st, k, navigator, window)) return;
      const rate = typeof c.sampleRate == 'number' ? c.sampleRate : 1;
      let x: Session | undefined;
      try {
        x = touchSession(st, k, Date.now(), rate, Math.random);
      } catch {
        /* the page broke JSON: the recorder decides, with clean copies of it */
      }
      if (x && !x.p) return;
      f.s = x; // the decision, for a recorder that finds storage unavailable
      loaded = 1;
      add(c.recorderUrl);
    };
    const f: Stub = function () {
      // eslint-disable-next-line prefer-rest-params
      const a = arguments;
      f.q!.push(a);
      try {
        if (a[0] == 'consent') {
          if (a[1]) {
            st.set(k + 'c', '1');
            st.del(k + 'o');
            granted = 1;
            start();
          } else forget(st, k);
        }
      } catch {
        /* never break the page */
      }
    };
    f.c = c;
    f.l = 1;
    // The queue stays reachable through the settings after the recorder replaces the global: the
    // feedback bundle reads identify calls and consent from it.
    (c as { q?: Cmd[] }).q = f.q = [];
    w.sightline = f;
    // Calls the snippet's stub queued go through f, in order: a consent given (or refused) before
    // this script arrived counts like one given after.
    for (const a of (s && s.q) || []) f.apply(0, a as unknown[]);
    if (c.feedback || (c.surveys && c.surveys.length)) {
      // A single-page app may reach a targeted page later: re-check on each navigation until the
      // bundle is loaded (it follows navigations itself).
      const h = history as unknown as Record<string, (...a: unknown[]) => unknown>;
      const check = () => setTimeout(() => fb || start());
      for (const n of ['pushState', 'replaceState']) {
        const o = h[n];
        try {
          h[n] = function (this: unknown) {
            check();
            // eslint-disable-next-line prefer-rest-params
            return o.apply(this, arguments as unknown as unknown[]);
          };
        } catch {
          /* frozen History: popstate still counts */
        }
      }
      addEventListener('popstate', check);
    }
    start();
  } catch {
    /* never break the page */
  }
})("__SIGHTLINE_CONFIG__");
