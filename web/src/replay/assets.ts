// Points a recording's stylesheets and images at Sightline's own copies
// (captured by recordings when the page was recorded) before rrweb sees the
// events. A captured stylesheet is loaded as served, from the dashboard's
// origin, instead of rrweb's `_cssText` (Chromium's cssText loses parts of
// multi-layer backgrounds) or the site's URL (its fonts are refused by CORS
// from the dashboard's origin, and the site may have changed or gone).
// What was not captured keeps rrweb's copy: `_cssText`, or the original URL.
import type { RrwebEvent } from "../lib/ndjson";

/** The part of LookupAssets' answer used here. */
export interface CapturedAsset {
  url?: string;
  hash?: string;
}

/** lookup answers which of urls are captured; it may throw (then nothing is rewritten). */
export type LookupFn = (urls: string[]) => Promise<CapturedAsset[]>;

/** LookupAssets takes at most this many URLs a call. */
export const MAX_LOOKUP_URLS = 2000;

const FULL_SNAPSHOT = 2;
const INCREMENTAL = 3;
const MUTATION = 0;
const ELEMENT = 2;

interface SerializedNode {
  type: number;
  tagName?: string;
  attributes?: Record<string, unknown>;
  childNodes?: SerializedNode[];
}

// Each element node of the events' full snapshots and added nodes.
function* elements(events: RrwebEvent[]): Generator<SerializedNode> {
  const stack: SerializedNode[] = [];
  for (const e of events) {
    if (e.type === FULL_SNAPSHOT && e.data?.node) stack.push(e.data.node);
    else if (e.type === INCREMENTAL && e.data?.source === MUTATION && Array.isArray(e.data.adds))
      for (const a of e.data.adds) if (a?.node) stack.push(a.node);
    while (stack.length) {
      const n = stack.pop()!;
      if (!n || typeof n !== "object") continue;
      if (n.type === ELEMENT) yield n;
      if (Array.isArray(n.childNodes)) stack.push(...n.childNodes);
    }
  }
}

function isStylesheet(n: SerializedNode): boolean {
  return n.tagName === "link" && typeof n.attributes?.href === "string" && /(^|\s)stylesheet(\s|$)/i.test(String(n.attributes?.rel ?? ""));
}

function isImage(n: SerializedNode): boolean {
  return n.tagName === "img" && typeof n.attributes?.src === "string";
}

function httpUrl(u: unknown): u is string {
  return typeof u === "string" && /^https?:\/\//i.test(u) && u.length <= 8192;
}

/** AssetRewriter rewrites one recording's events; lookups are cached for its life. */
export class AssetRewriter {
  private known = new Map<string, string | null>(); // url -> our URL, or null when not captured
  private disabled = false;

  constructor(
    private readonly lookup: LookupFn,
    /** Our URL for a captured asset's hash. */
    private readonly assetUrl: (hash: string) => string,
  ) {}

  /** prepare rewrites events in place (looking up URLs it has not seen) and answers them. */
  async prepare(events: RrwebEvent[]): Promise<RrwebEvent[]> {
    const nodes = [...elements(events)].filter((n) => isStylesheet(n) || isImage(n));
    if (nodes.length === 0) return events;
    const url = (n: SerializedNode) => (isStylesheet(n) ? n.attributes!.href : n.attributes!.src);
    const fresh = [...new Set(nodes.map(url).filter(httpUrl))].filter((u) => !this.known.has(u));
    if (fresh.length && !this.disabled) await this.resolve(fresh);
    for (const n of nodes) {
      const ours = this.known.get(url(n) as string);
      if (!ours) continue;
      if (isStylesheet(n)) {
        n.attributes!.href = ours;
        // rrweb would turn the link into a <style> holding its (lossy) cssText.
        delete n.attributes!._cssText;
      } else {
        n.attributes!.src = ours;
        delete n.attributes!.srcset;
      }
    }
    return events;
  }

  private async resolve(urls: string[]) {
    for (let i = 0; i < urls.length; i += MAX_LOOKUP_URLS) {
      const batch = urls.slice(i, i + MAX_LOOKUP_URLS);
      let found: CapturedAsset[];
      try {
        found = await this.lookup(batch);
      } catch {
        // No capture (old server, capture off, an outage): the replay uses rrweb's copies.
        this.disabled = true;
        return;
      }
      const byUrl = new Map(found.filter((a) => a.url && a.hash && /^[0-9a-f]{16,128}$/.test(a.hash)).map((a) => [a.url!, a.hash!]));
      for (const u of batch) {
        const h = byUrl.get(u);
        this.known.set(u, h ? this.assetUrl(h) : null);
      }
    }
  }
}
