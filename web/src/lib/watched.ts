// Which recordings this browser has watched, so the list can set them apart
// (the API has no per-user "viewed" state yet). Bounded, newest kept.

const MAX = 2000;
const key = (siteId: string) => `sightline.watched.${siteId}`;

export interface KV {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
}

function storage(): KV | undefined {
  try {
    return typeof localStorage === "undefined" ? undefined : localStorage;
  } catch {
    return undefined;
  }
}

export function watchedSet(siteId: string, kv: KV | undefined = storage()): Set<string> {
  try {
    const list = JSON.parse(kv?.getItem(key(siteId)) ?? "[]");
    return new Set(Array.isArray(list) ? list.filter((x): x is string => typeof x === "string") : []);
  } catch {
    return new Set();
  }
}

export function markWatched(siteId: string, sessionId: string, kv: KV | undefined = storage()): void {
  if (!kv) return;
  const list = [...watchedSet(siteId, kv)].filter((id) => id !== sessionId);
  list.push(sessionId);
  try {
    kv.setItem(key(siteId), JSON.stringify(list.slice(-MAX)));
  } catch {
    /* quota or private mode: not worth failing a replay for */
  }
}
