// Traffic beacons ("hits", docs/wire-format.md "Hit"): a page view at load and on every
// single-page-app navigation, its end (with how long it has lasted) whenever the page is hidden, and
// every sightline('event', name). Sent for every visitor the gates allow, recorded or not: the
// traffic numbers count all of them. It lives in the bootstrap, which runs on every page, so it is
// written for size. The bootstrap calls it inside try; listeners and the send guard themselves.
import type { Store } from './store';
import { touchSession, visitorId, live, type Session } from './session';
import { randomId } from './ids';

export interface HitConfig {
  siteKey: string;
  hitEndpoint?: string;
  recording?: boolean;
  sampleRate?: number;
}

export interface Traffic {
  // view makes sure this page has a page view (at load, on consent) and answers the session, or
  // nothing when the gates forbid. Each may throw where the page broke JSON.
  view(): Session | '' | undefined;
  nav(): void; // the URL may have changed (pushState, replaceState, popstate)
  event(name: unknown): void;
}

type Hit = Record<string, unknown>;

// Limits of the wire format are written out below (the minifier keeps named constants as
// variables): 20 hits a body, URLs cut to 2,048 characters, durations to 24 h.

// The page's URL without its fragment: page keys ignore it (package pagerule), so jumping to an
// anchor is no new page view, and a fragment can carry what is nobody else's business (tokens).
const here = () => location.href.split('#')[0];

// traffic sends the hits of one page; may says whether the gates allow it now.
export function traffic(c: HitConfig, st: Store, k: string, may: () => unknown): Traffic {
  const d = document;
  let q: Hit[] = []; // hits of session x, sent at the end of the task
  let x: Session; // the current page view's session
  let vid = ''; // and its visitor
  let pv = ''; // the current page view ('' before the first and while the gates forbid)
  let url = '';
  let ref = d.referrer;
  let since = 0; // when the page view started
  let size = 0; // characters of the queued hits

  // send posts the queued hits, unless the gates closed since they were queued.
  const send = () => {
    try {
      // sendBeacon survives the page's unload. A string body goes as text/plain;charset=UTF-8: a
      // CORS-simple request. Every browser of the build target has it, and a fetch with
      // keepalive when it answers false (too much in flight) would meet the same limit.
      if (q.length && c.hitEndpoint && may())
        navigator.sendBeacon(
          c.hitEndpoint + '?k=' + c.siteKey, // site keys are URL-safe
          JSON.stringify({ v: 1, sessionId: x.i, visitorId: vid, recorded: !!x.p && c.recording !== false, screen: [screen.width, screen.height], hits: q }),
        );
    } catch {
      /* never break the page */
    }
    q = [];
    size = 0;
  };
  // put queues a hit. Everything queued in the same task goes out in one body, before the browser
  // can unload the page (a microtask, not a timer), unless the body would hold more than 20 hits
  // or 4,000 characters of them: then what is queued goes first. Characters, not bytes: only an
  // event's name (≤ 100) can be other than ASCII, so 20 hits stay within 4,000 + 20 × 200 bytes,
  // under 8 KB with the envelope; a page view with long URLs goes alone.
  const put = (h: Hit) => {
    h.pageViewId = pv;
    h.time = Date.now();
    const j = JSON.stringify(h).length;
    if (q.length > 19 || size + j > 4000) send();
    if (!q.length) queueMicrotask(send);
    q.push(h);
    size += j;
  };
  // leave ends the page view, for now: hidden, it may be shown again and end later. On hide the
  // microtask still runs before the page can go (after each listener).
  const leave = () => {
    try {
      if (pv) put({ kind: 'leave', duration: Date.now() - since }); // ingest caps it at 24 h
    } catch {
      /* never break the page */
    }
  };
  // current makes sure there is a page view (a new one when fresh) in the live session, which it
  // touches: a hit is activity, like the recorder's. A session that ended while the page stayed
  // open gets a new page view. The session is kept here too: without storage touchSession makes a
  // new one each time, and this page stays in its own until it ends. A refusal ends the page view.
  // It throws where the page broke JSON: callers catch.
  const current = (fresh?: number) => {
    if (!may()) return (pv = '');
    const now = Date.now();
    const s = touchSession(st, k, now, c.sampleRate ?? 1, Math.random);
    const same = pv && (s.i == x.i || live(x, now));
    if (fresh || !same) {
      leave(); // the page view before ends here
      if (!same) {
        send(); // in its own session's body
        x = s;
        vid = visitorId(st, k);
      }
      pv = randomId('p_');
      url = here();
      since = now;
      put({ kind: 'pageview', url: url.slice(0, 2048), referrer: ref.slice(0, 2048) });
    }
    x.l = now;
    return x;
  };
  addEventListener('pagehide', leave);
  d.addEventListener('visibilitychange', () => d.hidden && leave());
  return {
    view: current,
    nav: () => {
      if (pv && here() != url) {
        ref = url; // an SPA page view's referrer is the page before it
        current(1);
      }
    },
    event: (name) => {
      if (typeof name == 'string' && name && !name[100] && current()) put({ kind: 'event', name });
    },
  };
}
