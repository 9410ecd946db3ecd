// Keeps the recorded page's own script out of the replay. The replay iframe is
// sandboxed without allow-scripts, and Chromium logs a console error ("Blocked
// script execution … the document's frame is sandboxed") for every inline
// event handler set in it and for every <iframe srcdoc> holding a script —
// when the attribute is set, so it must never reach the rebuilt DOM. rrweb
// renames only onload, onclick and onmouse* ("_onclick"); inertEvents renames
// every other handler attribute the same way and drops srcdoc (rrweb rebuilds
// a recorded frame's document from its own snapshot), in the events, before
// the Replayer builds anything. The sandbox stays as it is.
import type { RrwebEvent } from "../lib/ndjson";

const FULL_SNAPSHOT = 2;
const INCREMENTAL = 3;
const MUTATION = 0;

interface SnapshotNode {
  tagName?: unknown;
  attributes?: Record<string, unknown>;
  childNodes?: SnapshotNode[];
}

/**
 * handler says name may be an inline event handler attribute (onerror,
 * onsubmit…): "on" and letters. A page's own attribute of that shape ("only")
 * is renamed too; only a CSS selector naming it could tell.
 */
function handler(name: string): boolean {
  return /^on[a-z]+$/i.test(name);
}

/** renamed answers attrs with handlers renamed and srcdoc dropped (of an iframe), or attrs itself when there is none. */
function renamed(attrs: Record<string, unknown>, iframe: boolean): Record<string, unknown> {
  const names = Object.keys(attrs);
  if (!names.some((k) => handler(k) || (iframe && k.toLowerCase() === "srcdoc"))) return attrs;
  const out: Record<string, unknown> = {};
  for (const k of names) {
    if (iframe && k.toLowerCase() === "srcdoc") continue;
    out[handler(k) ? `_${k}` : k] = attrs[k];
  }
  return out;
}

function inertTree(root: SnapshotNode | undefined): void {
  const stack = root ? [root] : [];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.attributes) n.attributes = renamed(n.attributes, String(n.tagName).toLowerCase() === "iframe");
    if (n.childNodes) stack.push(...n.childNodes);
  }
}

/**
 * inertEvents makes the events' nodes inert, in place: full snapshots, added
 * nodes and attribute changes (an attribute change does not say its element's
 * tag, so a srcdoc set later is dropped whatever the element).
 */
export function inertEvents(evs: readonly RrwebEvent[]): void {
  for (const e of evs) {
    if (e.type === FULL_SNAPSHOT) inertTree(e.data?.node as SnapshotNode | undefined);
    if (e.type !== INCREMENTAL || e.data?.source !== MUTATION) continue;
    for (const a of (e.data.adds ?? []) as { node?: SnapshotNode }[]) inertTree(a.node);
    for (const a of (e.data.attributes ?? []) as { attributes?: Record<string, unknown> }[]) {
      if (a.attributes) a.attributes = renamed(a.attributes, true);
    }
  }
}
