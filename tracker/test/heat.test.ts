// @vitest-environment happy-dom
import { describe, it, expect, afterEach } from 'vitest';
import { record } from '@rrweb/record';
import { selectorPath, clickAt, MAX_SELECTOR } from '../src/heat';
import { Recorder } from '../src/recorder';
import { normalizeConfig } from '../src/config';
import { memStore } from './memstore';

// happy-dom declares DOMTokenList without defining it; rrweb's polyfill reads its prototype.
(window as unknown as Record<string, unknown>).DOMTokenList ??= document.body.classList.constructor;

let seed = 0x1badb002;
const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

function box(el: Element, left: number, top: number, width: number, height: number) {
  el.getBoundingClientRect = () => ({ left, top, width, height, right: left + width, bottom: top + height, x: left, y: top, toJSON: () => ({}) }) as DOMRect;
}
const click = (el: Element, over: MouseEventInit = {}) =>
  el.dispatchEvent(new MouseEvent('click', { bubbles: true, composed: true, cancelable: true, detail: 1, ...over }));

describe('selectorPath', () => {
  afterEach(() => {
    document.body.innerHTML = '';
  });

  it('climbs to <html> with :nth-of-type only where same-tag siblings exist', () => {
    document.body.innerHTML = '<div><p>a</p><p>b</p><ul><li>1</li><li><a href="#">2</a></li></ul></div><div></div>';
    const a = document.querySelector('a')!;
    expect(selectorPath(a)).toBe('html>body>div:nth-of-type(1)>ul>li:nth-of-type(2)>a');
    expect(selectorPath(document.querySelectorAll('p')[1])).toBe('html>body>div:nth-of-type(1)>p:nth-of-type(2)');
    expect(selectorPath(document.documentElement)).toBe('html');
  });

  it('stops at a stable, unique id', () => {
    // (Ids that need CSS escapes are checked in Chromium, e2e/heat.e2e.test.ts: happy-dom's
    // selector parser does not read escapes.)
    document.body.innerHTML = '<main id="shop"><section><button>Buy</button></section><section id="s-2"><i></i></section></main>';
    expect(selectorPath(document.querySelector('button')!)).toBe('main#shop>section:nth-of-type(1)>button');
    const i = document.querySelector('i')!;
    const s = selectorPath(i);
    expect(s).toBe('section#s-2>i');
    expect(document.querySelector(s)).toBe(i);
  });

  it('ignores ids that look generated or are not unique', () => {
    for (const id of ['42', '12345', 'item-20250101', 'ember1234']) {
      document.body.innerHTML = `<div><span id="${id}"></span><span></span></div>`;
      expect(selectorPath(document.getElementById(id)!), id).toBe('html>body>div>span:nth-of-type(1)');
    }
    document.body.innerHTML = '<div id="btn-123"><b></b></div>';
    expect(selectorPath(document.querySelector('b')!)).toBe('div#btn-123>b');
    document.body.innerHTML = '<p id="dup"></p><p id="dup"><b></b></p>';
    expect(selectorPath(document.querySelector('p:nth-of-type(2)>b')!)).toBe('html>body>p:nth-of-type(2)>b');
  });

  it('resolves back to the element on random pages', () => {
    const tags = ['div', 'span', 'p', 'a', 'section', 'li', 'my-widget', 'b'];
    for (let round = 0; round < 50; round++) {
      document.body.innerHTML = '';
      const all: Element[] = [document.body];
      for (let i = 0; i < 60; i++) {
        const el = document.createElement(tags[Math.floor(rnd() * tags.length)]);
        const r = rnd();
        if (r < 0.15) el.id = 'n' + Math.floor(rnd() * 5); // sometimes duplicated
        else if (r < 0.2) el.id = String(Math.floor(rnd() * 1e6));
        all[Math.floor(rnd() * all.length)].appendChild(el);
        all.push(el);
      }
      for (const el of all) {
        const s = selectorPath(el);
        expect(s.length).toBeLessThanOrEqual(MAX_SELECTOR);
        expect(document.querySelector(s), s).toBe(el);
      }
    }
  });

  it('cuts long paths at whole steps from the top, leaving a valid selector', () => {
    let html = '';
    for (let i = 0; i < 60; i++) html += '<div><span></span>';
    html += '<em></em>';
    for (let i = 0; i < 60; i++) html += '</div>';
    document.body.innerHTML = html;
    const em = document.querySelector('em')!;
    const s = selectorPath(em);
    expect(s.length).toBeLessThanOrEqual(MAX_SELECTOR);
    expect(s.length).toBeGreaterThan(MAX_SELECTOR - 30);
    expect(s).toMatch(/^div(:nth-of-type\(\d+\))?>/); // a whole step first, no dangling combinator
    expect(s.endsWith('>em')).toBe(true);
    expect(() => document.querySelector(s)).not.toThrow();
    expect(em.matches(s)).toBe(true);
    // A huge id is not worth anchoring to: the path goes on without it.
    document.body.innerHTML = `<div id="${'a'.repeat(300)}"><b></b></div>`;
    expect(selectorPath(document.querySelector('b')!)).toBe('html>body>div>b');
  });

  it('names the shadow host for elements inside shadow roots', () => {
    document.body.innerHTML = '<p></p><x-card></x-card><x-card id="c2"></x-card>';
    const hosts = document.querySelectorAll('x-card');
    const inner = hosts[0].attachShadow({ mode: 'open' });
    inner.innerHTML = '<div><button>go</button></div>';
    const nested = inner.querySelector('div')!.attachShadow({ mode: 'open' });
    nested.innerHTML = '<span>deep</span>';
    expect(selectorPath(inner.querySelector('button')!)).toBe('html>body>x-card:nth-of-type(1)');
    expect(selectorPath(nested.querySelector('span')!)).toBe('html>body>x-card:nth-of-type(1)');
    hosts[1].attachShadow({ mode: 'open' }).innerHTML = '<i></i>';
    expect(selectorPath(hosts[1].shadowRoot!.querySelector('i')!)).toBe('x-card#c2');
  });

  it('never says anything about text or attributes other than the id', () => {
    document.body.innerHTML = '<div class="secret-class" data-user="alice@example.com" title="Alice"><span>Alice Smith</span></div>';
    const s = selectorPath(document.querySelector('span')!);
    expect(s).toBe('html>body>div>span');
  });
});

describe('clickAt', () => {
  it('gives the place in the box in integer percent, clamped, and the middle for keyboard clicks', () => {
    document.body.innerHTML = '<button id="b">Buy</button>';
    const b = document.getElementById('b')!;
    box(b, 100, 50, 200, 40);
    const at = (init: MouseEventInit) => clickAt(new MouseEvent('click', { detail: 1, ...init }), b);
    expect(at({ clientX: 150, clientY: 60 })).toEqual({ s: 'button#b', rx: 25, ry: 25 });
    expect(at({ clientX: 299.4, clientY: 89.9 })).toEqual({ s: 'button#b', rx: 100, ry: 100 });
    expect(at({ clientX: 201, clientY: 70 })).toEqual({ s: 'button#b', rx: 51, ry: 50 });
    expect(at({ clientX: 10, clientY: 500 })).toEqual({ s: 'button#b', rx: 0, ry: 100 });
    expect(at({ clientX: 0, clientY: 0, detail: 0 })).toEqual({ s: 'button#b', rx: 50, ry: 50 });
    box(b, 100, 50, 0, 0); // an empty box: a number all the same
    expect(at({ clientX: 100, clientY: 50 })).toEqual({ s: 'button#b', rx: 0, ry: 0 });
  });

  it('measures the shadow host, the element the path names', () => {
    document.body.innerHTML = '<x-host></x-host>';
    const host = document.querySelector('x-host')!;
    host.attachShadow({ mode: 'open' }).innerHTML = '<b>x</b>';
    const inner = host.shadowRoot!.querySelector('b')!;
    box(host, 0, 0, 400, 100);
    box(inner, 0, 0, 10, 10);
    expect(clickAt(new MouseEvent('click', { detail: 1, clientX: 100, clientY: 75 }), inner)).toEqual({ s: 'html>body>x-host', rx: 25, ry: 75 });
  });
});

interface Ev {
  type: number;
  data: { tag?: string; payload?: Record<string, number | string>; source?: number; type?: number; id?: number };
  timestamp: number;
}

// A Recorder over happy-dom with rrweb really recording; the transport keeps the envelopes.
async function recorder() {
  const cfg = normalizeConfig({ siteKey: 'k_heat', endpoint: 'https://ingest.test/i/v1/batch', sampleRate: 1, recording: true })!;
  const r = new Recorder(window, cfg, memStore(), '_sl_k_heat_');
  const sent: Ev[][] = [];
  (r as unknown as { transport_: object }).transport_ = {
    push: (_seq: number, json: string) => sent.push(JSON.parse(json).events),
    fits: () => true,
    unload() {},
    pending: () => [],
    clear() {},
  };
  r.begin();
  await sleep(20);
  return { r, sent };
}
const isView = (e: Ev) => e.type === 5 && e.data.tag === 'sl:view';
const tags = (evs: Ev[]) => evs.map((e) => (e.type === 5 ? e.data.tag : e.type === 3 ? `3.${e.data.source}` : String(e.type)));

describe('recorder: sl:view and sl:click', () => {
  const de = document.documentElement;
  const size = (w: number, h: number, bodyH: number) => {
    Object.defineProperty(de, 'scrollWidth', { configurable: true, get: () => w });
    Object.defineProperty(de, 'scrollHeight', { configurable: true, get: () => h });
    Object.defineProperty(document.body, 'scrollHeight', { configurable: true, get: () => bodyH });
  };
  const scroll = (x: number, y: number) => {
    Object.defineProperty(window, 'scrollX', { configurable: true, get: () => x });
    Object.defineProperty(window, 'scrollY', { configurable: true, get: () => y });
  };
  let stop: (() => void) | undefined;
  afterEach(() => {
    stop?.();
    stop = undefined;
  });

  it('opens every batch with sl:view and follows each click with sl:click', async () => {
    document.body.innerHTML = '<nav><a id="home" href="#">Home</a></nav><div><p>x</p><p><button>Buy</button></p></div>';
    size(1280, 900, 2400);
    scroll(0, 0);
    const { r, sent } = await recorder();
    stop = () => r.command(['stop']);
    r.flush();
    expect(sent.length).toBe(1);
    const first = sent[0];
    expect(tags(first).slice(0, 3)).toEqual(['sl:view', '4', '2']);
    // The first batch opens with Meta: the document's node id is not known yet.
    expect(first[0].data.payload).toEqual({ x: 0, y: 0, w: 1280, h: 2400, v: window.innerHeight, d: -1 });
    expect(first[0].timestamp).toBe(first[1].timestamp);
    expect(first.filter(isView).length).toBe(1);

    scroll(3.4, 500.6);
    size(1300, 2600, 100);
    const btn = document.querySelector('button')!;
    box(btn, 200, 100, 80, 20);
    click(btn, { clientX: 220, clientY: 115 });
    const link = document.getElementById('home')!;
    box(link, 10, 10, 50, 10);
    click(link, { detail: 0 }); // keyboard: Enter on the link
    await sleep(10);
    r.flush();
    expect(sent.length).toBe(2);
    const b = sent[1];
    expect(isView(b[0])).toBe(true);
    expect(b[0].data.payload).toEqual({ x: 3, y: 501, w: 1300, h: 2600, v: window.innerHeight, d: record.mirror.getId(document) });
    expect(b[0].data.payload!.d).toBeGreaterThan(0);
    expect(b[0].timestamp).toBe(b[1].timestamp);
    expect(b.filter(isView).length).toBe(1);
    // Each sl:click comes after rrweb's click on the same node.
    const rrClicks = b.filter((e) => e.type === 3 && e.data.source === 2 && e.data.type === 2);
    const slClicks = b.filter((e) => e.type === 5 && e.data.tag === 'sl:click');
    expect(rrClicks.map((e) => e.data.id)).toEqual([record.mirror.getId(btn), record.mirror.getId(link)]);
    expect(slClicks.map((e) => e.data.payload)).toEqual([
      { id: record.mirror.getId(btn), s: 'html>body>div>p:nth-of-type(2)>button', rx: 25, ry: 75 },
      { id: record.mirror.getId(link), s: 'a#home', rx: 50, ry: 50 },
    ]);
    for (let i = 0; i < 2; i++) expect(b.indexOf(slClicks[i])).toBeGreaterThan(b.indexOf(rrClicks[i]));
    for (const q of slClicks) expect(document.querySelector(q.data.payload!.s as string)).toBe(record.mirror.getNode(q.data.payload!.id as number));
  });

  it('keeps to the awaiting rule: after a resnapshot, sl:view comes right before the new Meta', async () => {
    document.body.innerHTML = '<button>b</button>';
    size(800, 600, 600);
    scroll(0, 40);
    const { r, sent } = await recorder();
    stop = () => r.command(['stop']);
    r.flush();
    // What activity() does when the session moved on: a fresh Meta + FullSnapshot is awaited, and
    // the incremental events before it are dropped.
    (r as unknown as { resnapshot_(): void }).resnapshot_();
    const btn = document.querySelector('button')!;
    box(btn, 0, 0, 100, 100);
    click(btn, { clientX: 10, clientY: 10 });
    await sleep(20);
    r.flush();
    const b = sent[1];
    expect(tags(b).slice(0, 3)).toEqual(['sl:view', '4', '2']);
    expect(b[0].data.payload).toMatchObject({ y: 40, h: 600, d: -1 });
    expect(b.filter((e) => e.type === 3 && e.data.source === 2)).toEqual([]); // dropped while awaiting
    // The click's sl:click was held until the snapshot and sent after it, with the node's old id.
    expect(tags(b).indexOf('sl:click')).toBeGreaterThan(tags(b).indexOf('2'));
    expect(b.filter(isView).length).toBe(1);
  });

  it('sends at most 2000 sl:click per page view, and none for nodes rrweb does not know', async () => {
    document.body.innerHTML = '<button>b</button><div data-sl-block><i>x</i></div>';
    size(800, 600, 600);
    scroll(0, 0);
    const { r, sent } = await recorder();
    stop = () => r.command(['stop']);
    const inBlock = document.querySelector('i')!;
    expect(record.mirror.getId(inBlock)).toBe(-1);
    click(inBlock);
    document.dispatchEvent(new MouseEvent('click', { bubbles: true })); // not an element
    const btn = document.querySelector('button')!;
    for (let i = 0; i < 2100; i++) click(btn, { clientX: 1, clientY: 1 });
    await sleep(50);
    r.flush();
    const all = sent.flat();
    const sl = all.filter((e) => e.type === 5 && e.data.tag === 'sl:click');
    expect(sl.length).toBe(2000);
    expect(new Set(sl.map((e) => e.data.payload!.id))).toEqual(new Set([record.mirror.getId(btn)]));
    expect(all.filter((e) => e.type === 5 && e.data.tag === 'sl:error')).toEqual([]);
    // Batches split by size; each one opens with its sl:view, and only there.
    expect(sent.length).toBeGreaterThan(1);
    for (const b of sent) {
      expect(isView(b[0])).toBe(true);
      expect(b.filter(isView).length).toBe(1);
    }
  });
});
