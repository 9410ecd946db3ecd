// The dashboard's server state: one TanStack QueryClient whose defaults fit
// this gateway, and typed hooks ($api) derived from the openapi-fetch client
// by openapi-react-query. Keys are [method, path, init], so a page
// invalidates what a mutation changed by method and path.
import { QueryClient } from "@tanstack/react-query";
import createQueryHooks from "openapi-react-query";
import { api, ApiError, onApiEvent, toApiError, type Api } from "./client";
import { retryDelayMs } from "./outage";

/**
 * throwingClient makes every call of client throw the same ApiError as
 * unwrap (message, status, trace id, Retry-After): openapi-react-query would
 * otherwise throw the raw error body and treat an empty one as success.
 */
export function throwingClient(client: Api): Api {
  const wrap =
    <F extends (...args: never[]) => Promise<{ error?: unknown; response: Response }>>(fn: F): F =>
    (async (...args: Parameters<F>) => {
      const r = await fn(...args);
      if (!r.response.ok || r.error !== undefined) throw toApiError(r.error, r.response);
      return r;
    }) as F;
  return {
    ...client,
    GET: wrap(client.GET),
    PUT: wrap(client.PUT),
    POST: wrap(client.POST),
    DELETE: wrap(client.DELETE),
    PATCH: wrap(client.PATCH),
  };
}

/** $api: typed useQuery/useMutation/queryOptions over the gateway's OpenAPI paths. */
export const $api = createQueryHooks(throwingClient(api));

/** MAX_ATTEMPTS bounds retries of one query; the outage monitor keeps checking after that and refreshes on recovery. */
export const MAX_ATTEMPTS = 4;

/**
 * shouldRetry retries what may succeed later: no answer at all (status 0)
 * and server errors, except 501 (never implemented). A 4xx is an answer
 * about the request and stays an error.
 */
export function shouldRetry(failureCount: number, error: unknown): boolean {
  if (failureCount >= MAX_ATTEMPTS - 1) return false;
  if (!(error instanceof ApiError)) return false;
  if (error.status === 0) return true;
  return error.status >= 500 && error.status !== 501;
}

/** retryDelay backs off like the outage monitor (1, 2, 4, 5 s with jitter), never sooner than Retry-After. */
export function retryDelay(failureCount: number, error: unknown, random: () => number = Math.random): number {
  return retryDelayMs(failureCount, error instanceof ApiError ? error.retryAfterSeconds : undefined, random);
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry: shouldRetry,
        retryDelay: (n, e) => retryDelay(n + 1, e),
        // Lists change while a tab sits in the background; a minute-old
        // answer is fine when moving between pages.
        staleTime: 30_000,
        refetchOnWindowFocus: true,
      },
      // Writes are not idempotent (a create twice is two sites).
      mutations: { retry: false },
    },
  });
}

/**
 * followApiEvents re-reads what is on screen when the API answers again
 * after an outage or maintenance (kept data stays until the new answer); it
 * returns the unsubscriber.
 */
export function followApiEvents(qc: QueryClient): () => void {
  return onApiEvent((e) => {
    if (e.type === "recovered") void qc.invalidateQueries();
  });
}

export const queryClient = createQueryClient();
