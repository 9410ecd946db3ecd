import type { Store } from '../src/store';

// memStore is a Store over a Map, shared between "tabs" in tests the way localStorage is.
export function memStore(m = new Map<string, string>()): Store & { m: Map<string, string> } {
  return {
    m,
    get: (k) => (m.has(k) ? m.get(k)! : null),
    set: (k, v) => void m.set(k, v),
    del: (k) => void m.delete(k),
  };
}
