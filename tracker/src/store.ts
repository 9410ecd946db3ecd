// Store is the small slice of Web Storage the tracker uses. localStorage can throw (disabled
// storage, sandboxed frames, quota): every call is guarded. Without storage each page load is a
// session of its own (the recorder keeps its session in memory), which degrades "one session
// across tabs" without breaking anything.
export interface Store {
  get(key: string): string | null;
  set(key: string, value: string): void;
  del(key: string): void;
}

export function webStore(ls: () => Storage): Store {
  return {
    get(k) {
      try {
        return ls().getItem(k);
      } catch {
        return null;
      }
    },
    set(k, v) {
      try {
        ls().setItem(k, v);
      } catch {
        /* unavailable or full */
      }
    },
    del(k) {
      try {
        ls().removeItem(k);
      } catch {
        /* unavailable */
      }
    },
  };
}

// storageWorks says whether localStorage can be written at all (it throws when storage is blocked,
// in some sandboxed frames, and when the origin's quota is full).
export function storageWorks(ls: () => Storage): boolean {
  try {
    const s = ls();
    s.setItem('_sl_probe', '1');
    s.removeItem('_sl_probe');
    return true;
  } catch {
    return false;
  }
}

// memoryStore stands in for localStorage when it is unavailable, so the recorder's session stays
// one session for the life of the page instead of a new one at every look-up.
export function memoryStore(seed: Record<string, string> = {}): Store {
  const m: Record<string, string> = { ...seed };
  return {
    get: (k) => (k in m ? m[k] : null),
    set: (k, v) => {
      m[k] = v;
    },
    del: (k) => {
      delete m[k];
    },
  };
}
