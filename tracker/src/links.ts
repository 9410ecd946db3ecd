// rrweb (inlineStylesheet) replaces a same-origin <link rel=stylesheet> by its CSSOM text
// (`_cssText`) and deletes `rel` and `href`. That text is lossy (Chromium's cssText turns some
// multi-layer `background` rules into a wrong shorthand) and, without the URL, recordings cannot
// fetch the stylesheet as served nor the replay swap in its captured copy. keepStylesheetURLs puts
// `rel` and the absolute `href` back beside `_cssText`: the replay still has the text as a fallback.

interface SerializedNode {
  type?: number;
  id?: number;
  tagName?: string;
  attributes?: Record<string, unknown>;
  childNodes?: SerializedNode[];
}

const FULL_SNAPSHOT = 2;
const INCREMENTAL = 3;
const MUTATION = 0;
const ELEMENT = 2;

// keepStylesheetURLs restores rel/href on the stylesheet links of a full snapshot or of a
// mutation's added nodes, in place. getNode is rrweb's mirror lookup (id → live node).
export function keepStylesheetURLs(
  ev: { type: number; data?: { [k: string]: unknown } },
  getNode: (id: number) => unknown,
): void {
  const d = ev.data;
  if (!d) return;
  if (ev.type === FULL_SNAPSHOT) {
    walk(d.node as SerializedNode | undefined, getNode, 0);
  } else if (ev.type === INCREMENTAL && d.source === MUTATION && isArray(d.adds)) {
    const adds = d.adds as { node?: SerializedNode }[];
    for (let i = 0; i < adds.length; i++) walk(adds[i] && adds[i].node, getNode, 0);
  }
}

// Deep documents are rare; the bound keeps a hostile one from exhausting the stack.
const MAX_DEPTH = 512;

function walk(n: SerializedNode | undefined, getNode: (id: number) => unknown, depth: number): void {
  if (!n || typeof n !== 'object' || depth > MAX_DEPTH) return;
  if (n.type === ELEMENT && n.tagName === 'link') restore(n, getNode);
  const kids = n.childNodes;
  if (!isArray(kids)) return;
  for (let i = 0; i < kids.length; i++) walk(kids[i], getNode, depth + 1);
}

function restore(n: SerializedNode, getNode: (id: number) => unknown): void {
  const a = n.attributes;
  if (!a || typeof a._cssText !== 'string' || typeof a.href === 'string' || typeof n.id !== 'number') return;
  const el = getNode(n.id) as { href?: unknown; rel?: unknown } | null;
  if (!el || typeof el.href !== 'string' || !/^https?:/i.test(el.href)) return;
  a.rel = typeof el.rel === 'string' && el.rel ? el.rel : 'stylesheet';
  a.href = el.href;
}

function isArray(v: unknown): v is unknown[] {
  return Object.prototype.toString.call(v) === '[object Array]';
}
