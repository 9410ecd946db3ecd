// A page's query (filters, range) kept in the URL's query string.
import { useCallback, useMemo, useRef } from "react";
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
  // latest is what set merges onto; seen is the URL's params it last took.
  const latest = useRef(params);
  const seen = useRef(params);
  if (seen.current !== params) {
    seen.current = params;
    latest.current = params;
  }
  const write = useCallback(
    (next: URLSearchParams) => {
      latest.current = next;
      setParams(next);
    },
    [setParams],
  );
  const set = useCallback((patch: Partial<Q>) => write(to({ ...from(latest.current), ...patch })), [write, from, to]);
  const replace = useCallback((next: Q) => write(to(next)), [write, to]);
  return { q, set, replace };
}
