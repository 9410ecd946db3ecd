// Pointing at an element for the feedback widget: an outline follows the pointer over the page
// (drawn in the widget's shadow root, so the page's DOM is untouched); a click picks, Esc cancels.
// Keyboard: the outline starts on the element in the middle of the viewport, arrow keys move it
// (up: parent, down: first child, left/right: siblings), Enter picks. The selector is the
// recorder's heatmap anchor (selectorPath), so the dashboard can find the element in a replay.
import { selectorPath } from '../heat';

export function pick(d: Document, host: HTMLElement, c: HTMLElement, hint: string, done: (selector: string | null) => void): () => void {
  const w = d.defaultView!;
  const box = d.createElement('div');
  box.className = 'o';
  const tip = d.createElement('div');
  tip.className = 'hint';
  tip.setAttribute('role', 'status');
  tip.textContent = hint;
  c.append(box, tip);
  let cur: Element | null = null;
  const ok = (e: Element | null): e is Element => !!e && e !== host && e !== d.documentElement && !host.contains(e);
  const show = (e: Element | null) => {
    if (!ok(e)) return;
    cur = e;
    const r = e.getBoundingClientRect();
    const s = box.style;
    s.left = r.left - 2 + 'px';
    s.top = r.top - 2 + 'px';
    s.width = r.width + 4 + 'px';
    s.height = r.height + 4 + 'px';
    if (e.scrollIntoView && (r.bottom < 0 || r.top > w.innerHeight)) e.scrollIntoView({ block: 'nearest' });
  };
  const end = (sel: string | null) => {
    for (const [t, n, f] of offs) t.removeEventListener(n, f, true);
    box.remove();
    tip.remove();
    done(sel);
  };
  const move = (e: Event) => {
    const m = e as MouseEvent;
    show(d.elementFromPoint(m.clientX, m.clientY));
  };
  const click = (e: Event) => {
    e.preventDefault();
    e.stopPropagation();
    const m = e as MouseEvent;
    const t = d.elementFromPoint(m.clientX, m.clientY);
    if (ok(t)) end(selectorPath(t));
  };
  const key = (e: Event) => {
    const k = (e as KeyboardEvent).key;
    const to = !cur
      ? null
      : k === 'ArrowUp'
        ? cur.parentElement
        : k === 'ArrowDown'
          ? cur.firstElementChild
          : k === 'ArrowLeft'
            ? cur.previousElementSibling
            : k === 'ArrowRight'
              ? cur.nextElementSibling
              : undefined;
    if (k === 'Escape') end(null);
    else if (k === 'Enter' && cur) end(selectorPath(cur));
    else if (to !== undefined) show(to);
    else return;
    e.preventDefault();
    e.stopPropagation();
  };
  const offs: [EventTarget, string, (e: Event) => void][] = [
    [d, 'mousemove', move],
    [d, 'click', click],
    [w, 'keydown', key],
  ];
  for (const [t, n, f] of offs) t.addEventListener(n, f, true);
  show(d.elementFromPoint(w.innerWidth / 2, w.innerHeight / 2));
  return () => end(null);
}
