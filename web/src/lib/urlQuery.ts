// A page's query (filters, range) kept in the URL's query string.
import { useCallback, useLayoutEffect, useMemo, useRef } from "react";
import { useSearchParams } from "react-router";

/**
 * useUrlQuery answers the page's query, read from the URL, and set, which
 * merges a change onto the latest query: the one last written, until the
 * URL shows another (a render after it, or back/forward). React Router 7
 * applies navigations in a transition, so the query of the last render can
 * be one change behind: "clear", then at once a filter, merged the filter
 * onto the filters just cleared (the feedback e2e caught it on a busy
 * machine). replace writes a whole query.
 */
export function useUrlQuery<Q extends object>(from: (p: URLSearchParams) => Q, to: (q: Q) => URLSearchParams) {
  const [params, setParams] = useSearchParams();
  const q = useMemo(() => from(params), [params, from]);
  // shown is the URL's params as last committed (set in an effect, not
  // during render: a render may be thrown away); written is the last write
  // and the params it was made over. While the URL still shows those, the
  // write has not landed and is what a change merges onto.
  const shown = useRef(params);
  useLayoutEffect(() => {
    shown.current = params;
  }, [params]);
  const written = useRef<{ over: URLSearchParams; next: URLSearchParams } | null>(null);
  const write = useCallback(
    (next: URLSearchParams) => {
      written.current = { over: shown.current, next };
      setParams(next);
    },
    [setParams],
  );
  const set = useCallback(
    (patch: Partial<Q>) => {
      const w = written.current;
      const base = w && w.over === shown.current ? w.next : shown.current;
      write(to({ ...from(base), ...patch }));
    },
    [write, from, to],
  );
  const replace = useCallback((next: Q) => write(to(next)), [write, to]);
  return { q, set, replace };
}
