import type { Store } from './store';

// Batches the browser would not take at page hide (sendBeacon is capped at 64 KiB in flight) are
// kept in localStorage under k+'u' and sent by the next page of the site that records. They carry
// their own session, page view and seq, so sending one twice is harmless (ingest is idempotent on
// (site, session, seq, page view)). At most STASH_MAX characters are kept; the oldest batches first.
export const STASH_MAX = 512 * 1024;

export function stash(st: Store, k: string, batches: string[]): number {
  if (!batches.length) return 0;
  let kept: string[] = [];
  try {
    kept = JSON.parse(st.get(k + 'u') || '[]');
    if (!Array.isArray(kept)) kept = [];
  } catch {
    kept = [];
  }
  let size = kept.reduce((n, b) => n + b.length, 0);
  let n = 0;
  for (const b of batches) {
    if (size + b.length > STASH_MAX) break;
    kept.push(b);
    size += b.length;
    n++;
  }
  if (n) st.set(k + 'u', JSON.stringify(kept));
  return n;
}

export function unstash(st: Store, k: string): string[] {
  const raw = st.get(k + 'u');
  if (!raw) return [];
  st.del(k + 'u');
  try {
    const x = JSON.parse(raw);
    return Array.isArray(x) ? x.filter((b) => typeof b === 'string') : [];
  } catch {
    return [];
  }
}

// unstashPageView withdraws the stashed batches of a page view that turned out to live on.
export function unstashPageView(st: Store, k: string, pageViewId: string): void {
  const all = unstash(st, k);
  const mark = '"pageViewId":"' + pageViewId + '"';
  stash(st, k, all.filter((b) => b.indexOf(mark) < 0));
}
