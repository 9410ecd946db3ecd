// The dashboard's only way to the gateway: an openapi-fetch client typed by
// schema.d.ts, which is generated from the gateway's OpenAPI document.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

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
  | { type: "maintenance"; retryAfterSeconds?: number };

/** statusMiddleware reports 401 and 503 answers to the app. */
export function statusMiddleware(emit: (e: ApiEvent) => void): Middleware {
  return {
    onResponse({ response, request }) {
      const url = new URL(request.url, "http://x");
      // A failed log-in is a form error, not a lost session.
      if (response.status === 401 && !url.pathname.startsWith("/api/v1/auth/")) {
        emit({ type: "unauthorized" });
      }
      if (response.status === 503) {
        const ra = Number(response.headers.get("Retry-After"));
        emit({ type: "maintenance", retryAfterSeconds: Number.isFinite(ra) && ra > 0 ? ra : undefined });
      }
      return response;
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
  } else if (typeof body === "string") {
    message = body.trim();
  }
  if (!message) message = defaultMessage(response.status);
  return new ApiError(message, response.status, code, traceId);
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
    case 503:
      return "Sightline is in maintenance. Please try again shortly.";
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

export function createApi(opts: { baseUrl?: string; fetch?: typeof fetch; getCookies?: () => string } = {}) {
  const client = createClient<paths>({
    baseUrl: opts.baseUrl ?? "",
    credentials: "same-origin",
    fetch: opts.fetch,
  });
  client.use(csrfMiddleware(opts.getCookies ?? (() => (typeof document === "undefined" ? "" : document.cookie))));
  client.use(statusMiddleware((e) => listeners.forEach((fn) => fn(e))));
  return client;
}

export type Api = ReturnType<typeof createApi>;

export const api: Api = createApi();
