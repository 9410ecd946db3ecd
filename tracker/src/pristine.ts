// Clean copies of the globals the recorder — and rrweb inside it — calls, for pages that replace
// them with broken versions before the tracker loads (a bad polyfill, a test harness, a hostile
// script). build.mjs injects this module into the recorder bundle and points every reference in
// it (ours and rrweb's) at these copies. They come from a fresh same-origin realm: an about:blank
// iframe, attached for an instant and removed before anything else runs. Pure builtins (JSON,
// Map, Object.assign) work from the detached realm; timers and animation frames are that realm's
// functions called on the page's window, so they belong to the page. Promise is the intrinsic of
// our own realm (what async functions return), which no assignment to window.Promise can change.
// Where no realm can be made (frames blocked, DOM broken) the page's own globals are used.
type Timer = (fn: () => void, ms?: number) => number;
interface Realm {
  JSON: JSON;
  Map: MapConstructor;
  Set: SetConstructor;
  WeakMap: WeakMapConstructor;
  WeakSet: WeakSetConstructor;
  Object: ObjectConstructor;
  setTimeout: Timer;
  clearTimeout: (id?: number) => void;
  setInterval: Timer;
  clearInterval: (id?: number) => void;
  requestAnimationFrame: (fn: FrameRequestCallback) => number;
  cancelAnimationFrame: (id: number) => void;
}

const page = window as unknown as Realm;

function cleanRealm(): Realm {
  try {
    const d = document;
    const f = d.createElement('iframe');
    f.setAttribute('aria-hidden', 'true');
    f.style.display = 'none';
    (d.head || d.documentElement).appendChild(f);
    const r = f.contentWindow as unknown as Realm | null;
    f.remove();
    if (r && r.JSON && typeof r.JSON.stringify === 'function' && typeof r.setTimeout === 'function') return r;
  } catch {
    /* no realm: the page's own */
  }
  return page;
}

const realm = cleanRealm();
const onPage = <F extends (...a: never[]) => unknown>(f: F) =>
  function (...a: Parameters<F>) {
    return (f as unknown as (...x: unknown[]) => unknown).apply(page, a);
  } as unknown as F;

const J = realm.JSON;
const M = realm.Map;
const S = realm.Set;
const WM = realm.WeakMap;
const WS = realm.WeakSet;
const P = (async () => {})().constructor as PromiseConstructor;
const st = onPage(realm.setTimeout);
const ct = onPage(realm.clearTimeout);
const si = onPage(realm.setInterval);
const ci = onPage(realm.clearInterval);
const raf = onPage(realm.requestAnimationFrame);
const caf = onPage(realm.cancelAnimationFrame);
const assign = realm.Object.assign;

// Array.from made from spread and a loop, so the arrays it returns are the page realm's (a clean
// realm's Array.from would make arrays that fail `instanceof Array`).
function from<T, U>(x: ArrayLike<T> | Iterable<T>, f?: (v: T, i: number) => U, self?: unknown): (T | U)[] {
  const it = x != null && typeof (x as Iterable<T>)[Symbol.iterator] === 'function';
  const a: T[] = [];
  if (it) for (const v of x as Iterable<T>) a.push(v);
  else for (let i = 0, n = Number((x as ArrayLike<T>).length) || 0; i < n; i++) a.push((x as ArrayLike<T>)[i]);
  return f ? a.map((v, i) => f.call(self, v, i)) : a;
}

export {
  J as JSON,
  M as Map,
  S as Set,
  WM as WeakMap,
  WS as WeakSet,
  P as Promise,
  st as setTimeout,
  ct as clearTimeout,
  si as setInterval,
  ci as clearInterval,
  raf as requestAnimationFrame,
  caf as cancelAnimationFrame,
  from as __slArrayFrom,
  assign as __slObjectAssign,
};
