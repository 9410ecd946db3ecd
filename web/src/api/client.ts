// The dashboard's only way to the gateway: an openapi-fetch client typed by
// schema.d.ts, which is generated from the gateway's OpenAPI document.
import { basePath, withoutBase } from "../lib/base";
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";
import { OutageMonitor, type CheckResult, type Outage, type UnavailableReport } from "./outage";

export type Schemas = components["schemas"];

export const CSRF_COOKIE = "sl_csrf";
export const CSRF_HEADER = "X-CSRF-Token";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** readCookie returns a cookie's value from a `document.cookie` string. */
export function readCookie(cookies: string, name: string): string | undefined {
  for (const part of cookies.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return undefined;
}

/**
 * csrfMiddleware copies the readable CSRF cookie into the X-CSRF-Token header
 * of every non-safe request (double-submit); the gateway rejects writes
 * without it.
 */
export function csrfMiddleware(getCookies: () => string): Middleware {
  return {
    onRequest({ request }) {
      if (SAFE_METHODS.has(request.method.toUpperCase())) return request;
      const token = readCookie(getCookies(), CSRF_COOKIE);
      if (token) request.headers.set(CSRF_HEADER, token);
      return request;
    },
  };
}

/** ApiEvents tells the app about answers that change global state. */
export type ApiEvent =
  | { type: "unauthorized" }
  | { type: "maintenance"; retryAfterSeconds?: number }
  | ({ type: "unavailable" } & UnavailableReport)
  | { type: "outage"; outage: Outage | undefined }
  | { type: "recovered" };

/** Statuses that say "try again later" rather than "this request is wrong". */
const UNAVAILABLE = new Set([502, 503, 504]);

/**
 * STALE_HEADER marks a 200 the gateway served from its last good answers
 * because the service behind it is unavailable (its value: the age in s).
 */
export const STALE_HEADER = "X-Sightline-Stale";

export const UNREACHABLE_MESSAGE = "Sightline can't be reached from this browser";

/** isUnavailable says whether an error is an outage (the API down or unreachable), not an answer about the request. */
export function isUnavailable(e: unknown): boolean {
  return e instanceof ApiError && (e.status === 0 || UNAVAILABLE.has(e.status));
}

/** forbiddenAs reads a refused write (403) as message, which says who may make it; any other error stays as it is. */
export function forbiddenAs(e: unknown, message: string): unknown {
  return e instanceof ApiError && e.status === 403 ? message : e;
}

function retryAfter(response: Response): number | undefined {
  const ra = Number(response.headers.get("Retry-After"));
  return Number.isFinite(ra) && ra > 0 ? ra : undefined;
}

/** bodyMessage reads the message of a google.rpc.Status body, without consuming the response. */
async function bodyMessage(response: Response): Promise<string> {
  try {
    const b = (await response.clone().json()) as { message?: unknown };
    return typeof b?.message === "string" ? b.message : "";
  } catch {
    return "";
  }
}

/**
 * isMaintenanceMessage tells maintenance mode (the gateway's 503 for writes, whose
 * message starts "maintenance:") from a part of Sightline being unavailable.
 */
export function isMaintenanceMessage(message: string): boolean {
  return /^maintenance\b/i.test(message.trim());
}

/**
 * statusMiddleware reports 401, maintenance, and outages (502/503/504 or no
 * answer at all) to the app. Only a 401 means signed out; an outage never
 * does.
 */
export function statusMiddleware(emit: (e: ApiEvent) => void): Middleware {
  return {
    async onResponse({ response, request }) {
      const url = new URL(request.url, "http://x");
      // A failed log-in is a form error, not a lost session.
      if (response.status === 401 && !withoutBase(url.pathname).startsWith("/api/v1/auth/")) {
        emit({ type: "unauthorized" });
      }
      if (response.ok && response.headers.has(STALE_HEADER)) {
        // The gateway answered from its last good copy: the part behind it is down.
        emit({ type: "unavailable", message: "", path: request.method.toUpperCase() === "GET" ? url.pathname + url.search : undefined });
      }
      if (UNAVAILABLE.has(response.status)) {
        const message = await bodyMessage(response);
        const ra = retryAfter(response);
        if (response.status === 503 && isMaintenanceMessage(message)) {
          emit({ type: "maintenance", retryAfterSeconds: ra });
        } else {
          emit({
            type: "unavailable",
            message: message || defaultMessage(response.status),
            retryAfterSeconds: ra,
            path: request.method.toUpperCase() === "GET" ? url.pathname + url.search : undefined,
          });
        }
      }
      return response;
    },
    onError({ error, request }) {
      // An aborted request is not an outage.
      if (error instanceof Error && error.name === "AbortError") return;
      const url = new URL(request.url, "http://x");
      emit({
        type: "unavailable",
        message: UNREACHABLE_MESSAGE,
        path: request.method.toUpperCase() === "GET" ? url.pathname + url.search : undefined,
      });
      // unwrap and the forms show this like any other failed request.
      return new ApiError(`${UNREACHABLE_MESSAGE}. Check the connection and try again.`, 0);
    },
  };
}

/** ApiError carries the gateway's status and message (google.rpc.Status). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: number,
    /** The gateway's trace id, for a support request or a look in Jaeger. */
    readonly traceId?: string,
    /** The answer's Retry-After (503 while a part is unreachable): the query layer waits at least this long. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** toApiError builds a readable error from a failed response's body. */
export function toApiError(body: unknown, response: Response): ApiError {
  let message = "";
  let code: number | undefined;
  let traceId: string | undefined;
  if (body && typeof body === "object") {
    const b = body as { message?: unknown; code?: unknown; error?: unknown; traceId?: unknown };
    if (typeof b.traceId === "string" && b.traceId) traceId = b.traceId;
    if (typeof b.message === "string") message = b.message;
    else if (typeof b.error === "string") message = b.error;
    if (typeof b.code === "number") code = b.code;
  } else if (typeof body === "string" && !body.trimStart().startsWith("<")) {
    // Not a proxy's HTML error page.
    message = body.trim();
  }
  if (!message) message = defaultMessage(response.status);
  return new ApiError(message, response.status, code, traceId, retryAfter(response));
}

function defaultMessage(status: number): string {
  switch (status) {
    case 401:
      return "Your session has ended. Please log in again.";
    case 403:
      return "You don't have permission to do that.";
    case 404:
      return "Not found.";
    case 429:
      return "Too many requests. Please wait a moment and try again.";
    case 502:
    case 503:
    case 504:
      return "Sightline is unavailable right now. Please try again shortly.";
    default:
      return `Request failed (HTTP ${status}).`;
  }
}

type Result<T> = { data?: T; error?: unknown; response: Response };

/** unwrap returns the data of a successful call or throws an ApiError. */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok || error !== undefined) throw toApiError(error, response);
  return data as T;
}

const listeners = new Set<(e: ApiEvent) => void>();

/** onApiEvent subscribes to global API events; it returns the unsubscriber. */
export function onApiEvent(fn: (e: ApiEvent) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function broadcast(e: ApiEvent) {
  listeners.forEach((fn) => fn(e));
}

/**
 * checkApi asks the gateway directly (not through the middleware) whether
 * path answers: up on any answer but 502/503/504 or a stale copy, or
 * maintenance (which has its own banner).
 */
export async function checkApi(path: string, fetchFn: typeof fetch = fetch): Promise<CheckResult> {
  const res = await fetchFn(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (res.ok && res.headers.has(STALE_HEADER)) return { up: false };
  if (!UNAVAILABLE.has(res.status)) return { up: true };
  const message = await bodyMessage(res);
  if (res.status === 503 && isMaintenanceMessage(message)) return { up: true };
  return { up: false, message: message || undefined, retryAfterSeconds: retryAfter(res) };
}

/** outage is the dashboard's one outage monitor; its state reaches the app as "outage" and "recovered" events. */
export const outage = new OutageMonitor({
  check: (path) => checkApi(path),
  onChange: (o) => broadcast({ type: "outage", outage: o }),
  onRecovered: () => broadcast({ type: "recovered" }),
});

/** announceRecovered tells the app the API works again after a pause the monitor did not watch (maintenance). */
export function announceRecovered() {
  broadcast({ type: "recovered" });
}

/** dispatch is the default sink of the middleware: the app's listeners and the outage monitor. */
function dispatch(e: ApiEvent) {
  if (e.type === "unavailable") outage.report(e);
  broadcast(e);
}

export function createApi(
  opts: { baseUrl?: string; fetch?: typeof fetch; getCookies?: () => string; emit?: (e: ApiEvent) => void } = {},
) {
  const client = createClient<paths>({
    baseUrl: opts.baseUrl ?? basePath,
    credentials: "same-origin",
    fetch: opts.fetch,
  });
  client.use(csrfMiddleware(opts.getCookies ?? (() => (typeof document === "undefined" ? "" : document.cookie))));
  client.use(statusMiddleware(opts.emit ?? dispatch));
  return client;
}

export type Api = ReturnType<typeof createApi>;

export const api: Api = createApi();
