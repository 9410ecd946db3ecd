// The bootstrap: the script ingest serves at /s/<site_key>.js with the site's settings inlined in
// place of the "__SIGHTLINE_CONFIG__" literal. It installs the command queue (window.sightline),
// decides whether this visit is recorded (Do-Not-Track, consent, sampling — once per session) and
// only then loads the recorder. It must stay under 1 KB gzipped and never throw into the page.
import { webStore } from './store';
import { prefix, touchSession, forget, type Session } from './session';
import { blocked } from './gate';

interface Raw {
  siteKey: string;
  recorderUrl: string;
  sampleRate?: number;
  recording?: boolean;
  respectDnt?: boolean;
  requireConsent?: boolean;
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
    const start = () => {
      // granted: consent given on this page counts even where storage cannot remember it.
      if (loaded || blocked(granted ? { ...c, requireConsent: false } : c, st, k, navigator, window)) return;
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
      const e = document.createElement('script');
      e.async = true;
      e.src = c.recorderUrl;
      (document.head || document.documentElement).appendChild(e);
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
    f.q = (s && s.q) || [];
    f.c = c;
    f.l = 1;
    w.sightline = f;
    start();
  } catch {
    /* never break the page */
  }
})("__SIGHTLINE_CONFIG__");
