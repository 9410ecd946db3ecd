// The recordings list as server state: one infinite query per site and
// filter (the URL's query string), shared by the list and the replay's
// previous/next, so opening a recording and coming back costs no request.
import { useMemo } from "react";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "./client";
import { fromSearchParams, toFilter, toSearchBody } from "../lib/filters";

type Summary = Schemas["v1SessionSummary"];

const PAGE_SIZE = 50;
const SEARCH = "/api/v1/sites/{siteId}/sessions:search";
/** How often a list that has recordings asks whether new ones arrived. */
export const NEW_SESSIONS_POLL_MS = 30_000;
/** How often an empty list (a brand-new site) looks for its first recording. */
export const FIRST_SESSION_POLL_MS = 10_000;

/** listPageSize keeps the request within the server's advertised cap. */
export function listPageSize(max: number | undefined): number {
  return max && max > 0 ? Math.min(PAGE_SIZE, max) : PAGE_SIZE;
}

export function sessionSearchKey(siteId: string, query: string, pageSize: number) {
  return ["post", SEARCH, { siteId, query, pageSize }] as const;
}

/** uniqueSessions joins pages, keeping the first of a session a later page repeats (new ones shift the pages). */
export function uniqueSessions(pages: { sessions?: Summary[] }[] | undefined): Summary[] {
  const seen = new Set<string>();
  const out: Summary[] = [];
  for (const p of pages ?? [])
    for (const s of p.sessions ?? []) {
      const id = s.sessionId ?? "";
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(s);
    }
  return out;
}

/**
 * useSessionSearch pages through one site's recordings matching query (a
 * filter query string). An empty list polls for its first recording; a
 * full one is not refetched on focus (that re-reads every page) but told of
 * new recordings by useNewSessions.
 */
export function useSessionSearch(siteId: string, query: string, pageSize: number, opts: { pollWhileEmpty?: boolean } = {}) {
  const q = useInfiniteQuery({
    queryKey: sessionSearchKey(siteId, query, pageSize),
    queryFn: ({ pageParam, signal }) =>
      unwrap(
        api.POST(SEARCH, {
          params: { path: { siteId } },
          body: toSearchBody(fromSearchParams(new URLSearchParams(query)), { now: new Date(), pageSize, pageToken: pageParam || undefined }),
          signal,
        }),
      ),
    initialPageParam: "",
    // A page that adds nothing ends the walk rather than asking again forever.
    getNextPageParam: (last) => (last.sessions?.length ? last.nextPageToken || undefined : undefined),
    refetchOnWindowFocus: false,
    refetchInterval: (query) =>
      opts.pollWhileEmpty && query.state.data && !query.state.data.pages[0]?.sessions?.length ? FIRST_SESSION_POLL_MS : false,
    enabled: !!siteId,
  });
  const pages = q.data?.pages;
  const items = useMemo(() => uniqueSessions(pages), [pages]);
  const first = pages?.[0];
  const facets = useMemo(() => new Map((first?.facets ?? []).map((f) => [f.field ?? "", f])), [first]);
  return { query: q, items, total: first ? Number(first.total ?? 0) : undefined, facets };
}

/** useNewSessions counts the recordings matching query now, every NEW_SESSIONS_POLL_MS while enabled. */
export function useNewSessions(siteId: string, query: string, enabled: boolean) {
  return useQuery({
    queryKey: ["post", "/api/v1/sites/{siteId}/sessions:count", { siteId, query }],
    queryFn: ({ signal }) =>
      unwrap(
        api.POST("/api/v1/sites/{siteId}/sessions:count", {
          params: { path: { siteId } },
          body: { filter: toFilter(fromSearchParams(new URLSearchParams(query)), new Date()) },
          signal,
        }),
      ).then((r) => Number(r.count ?? 0)),
    refetchInterval: NEW_SESSIONS_POLL_MS,
    refetchIntervalInBackground: false,
    enabled: enabled && !!siteId,
  });
}
