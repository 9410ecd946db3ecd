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
