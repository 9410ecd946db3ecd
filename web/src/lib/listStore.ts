// The recordings list the user last looked at, so the replay can offer
// next/previous within it (same filter, same order) without refetching.

export interface ListSnapshot {
  /** siteId + "?" + filter query string. */
  key: string;
  ids: string[];
  nextPageToken?: string;
  total: number;
}

let last: ListSnapshot | undefined;

export function listKey(siteId: string, query: string): string {
  return `${siteId}?${query}`;
}

export function saveList(s: ListSnapshot) {
  last = { ...s, ids: [...s.ids] };
}

export function loadList(key: string): ListSnapshot | undefined {
  return last?.key === key ? last : undefined;
}

/** neighbours finds the recordings before and after id in a list. */
export function neighbours(ids: string[], id: string): { index: number; prev?: string; next?: string } {
  const index = ids.indexOf(id);
  if (index < 0) return { index };
  return { index, prev: index > 0 ? ids[index - 1] : undefined, next: index + 1 < ids.length ? ids[index + 1] : undefined };
}
