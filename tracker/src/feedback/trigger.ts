// Survey triggers: when a targeted survey appears. arm() starts watching and answers a function
// that stops; fire runs at most once. Listeners are passive and cheap (one comparison per event).
import type { SurveySettings } from '../config';

export interface Events {
  on(name: string, f: () => void): () => void; // sightline('event', name) calls
}

// scrolled is how far down the document the viewport's bottom edge is, in percent.
export function scrolled(w: Window): number {
  const e = w.document.documentElement;
  const h = Math.max(e.scrollHeight, w.document.body ? w.document.body.scrollHeight : 0);
  return h <= w.innerHeight ? 100 : ((w.scrollY + w.innerHeight) * 100) / h;
}

// Exit intent on touch screens: a fast scroll back up, at least a third of the viewport within
// 300 ms, once the visitor has scrolled at least one viewport down.
const EXIT_UP_MS = 300;

export function arm(t: SurveySettings['trigger'], w: Window, ev: Events, sinceLoad: number, fire: () => void, touch: boolean): () => void {
  let done = false;
  const offs: (() => void)[] = [];
  const go = () => {
    if (done) return;
    done = true;
    stop();
    fire();
  };
  const stop = () => {
    for (const f of offs.splice(0)) f();
  };
  const on = (target: EventTarget, name: string, f: (e: Event) => void) => {
    target.addEventListener(name, f, { passive: true, capture: true });
    offs.push(() => target.removeEventListener(name, f, { capture: true }));
  };
  switch (t.kind) {
    case 'load':
      go();
      break;
    case 'seconds': {
      const id = w.setTimeout(go, Math.max(0, t.seconds * 1000 - sinceLoad));
      offs.push(() => w.clearTimeout(id));
      break;
    }
    case 'scroll': {
      const check = () => scrolled(w) >= t.scroll && go();
      on(w, 'scroll', check);
      check();
      break;
    }
    case 'exit':
      if (!touch) {
        // The pointer leaving the window through the top edge (towards tabs and the address bar).
        on(w.document, 'mouseout', (e) => {
          const m = e as MouseEvent;
          if (!m.relatedTarget && m.clientY <= 0) go();
        });
      } else {
        let deepest = 0;
        let marks: [number, number][] = [];
        on(w, 'scroll', () => {
          const y = w.scrollY;
          const now = Date.now();
          deepest = Math.max(deepest, y);
          marks = marks.filter((m) => now - m[1] <= EXIT_UP_MS);
          marks.push([y, now]);
          const top = Math.max(...marks.map((m) => m[0]));
          if (deepest >= w.innerHeight && top - y >= w.innerHeight / 3) go();
        });
      }
      break;
    case 'event':
      offs.push(ev.on(t.event, go));
      break;
  }
  return () => {
    done = true;
    stop();
  };
}
