// What heatmaps need beyond rrweb's events (docs/wire-format.md): where the document was scrolled
// and how big it was (sl:view, opening every batch), and which element a click hit and where in
// its box (sl:click), so a map drawn at another width still puts the click on that element.

export const MAX_SELECTOR = 200;

// view reads the scroll position and the document's size once: it opens a batch, so rrweb's
// scroll events and pointer positions after it can be placed on the document.
export function view(w: Window, d: number): { x: number; y: number; w: number; h: number; v: number; d: number } {
  const e = w.document.documentElement;
  const b = w.document.body;
  return { x: Math.round(w.scrollX), y: Math.round(w.scrollY), w: e.scrollWidth, h: Math.max(e.scrollHeight, b ? b.scrollHeight : 0), v: w.innerHeight, d };
}

// selectorPath names an element for document.querySelector: tag steps from it up to <html>, each
// with :nth-of-type(n) where same-tag siblings exist, stopping early at an id that looks stable
// (not numeric, no run of 4+ digits: generated ids change between page loads) and unique. No
// text and no attribute but the id, so masked content never leaks into it. Inside shadow roots
// it names the outermost host, which is what the page's document can select. Over MAX_SELECTOR
// characters, whole steps are dropped from the top, so what is left still parses.
export function selectorPath(el: Element): string {
  el = outer(el);
  let s = '';
  for (let e: Element | null = el, p: Element | null; e; e = p) {
    p = e.parentElement;
    const t = e.localName;
    let step = CSS.escape(t);
    let x = e.id && !/^\d+$|\d{4}/.test(e.id) ? step + '#' + CSS.escape(e.id) : '';
    if (x && x.length <= MAX_SELECTOR && e.ownerDocument.querySelectorAll(x).length < 2) {
      step = x;
      p = null; // the id anchors the path
    } else if (p) {
      let n = 0;
      let i = 0;
      for (const c of p.children) if (c.localName === t && (n++, c === e)) i = n;
      if (n > 1) step += ':nth-of-type(' + i + ')';
    }
    x = s ? step + '>' + s : step;
    if (x.length > MAX_SELECTOR) break;
    s = x;
  }
  return s;
}

// clickAt describes a click for sl:click: the target's selector path and where in its box the
// pointer was, in integer percent from its left and top (one layout read). A keyboard or
// script click has no pointer position (detail 0): its middle.
export function clickAt(ev: MouseEvent, target: Element): { s: string; rx: number; ry: number } {
  const el = outer(target);
  const r = el.getBoundingClientRect();
  const pc = (v: number, from: number, size: number) => {
    const x = Math.round(((v - from) * 100) / size);
    return !ev.detail ? 50 : x > 0 ? (x < 100 ? x : 100) : 0;
  };
  return { s: selectorPath(el), rx: pc(ev.clientX, r.left, r.width), ry: pc(ev.clientY, r.top, r.height) };
}

// outer climbs out of shadow roots to the host in the document.
function outer(el: Element): Element {
  for (let r: ShadowRoot; (r = el.getRootNode() as ShadowRoot).host; ) el = r.host;
  return el;
}
