import { describe, expect, it } from "vitest";
import { announceRecovered, createApi, ApiError } from "./client";
import { optimisticList } from "./optimistic";
import { createQueryClient, followApiEvents, MAX_ATTEMPTS, retryDelay, shouldRetry, throwingClient } from "./query";
import { uniqueSessions } from "./sessionSearch";

describe("query retries", () => {
  it("retries no answer and server errors but 501, never a 4xx", () => {
    expect(shouldRetry(0, new ApiError("unreachable", 0))).toBe(true);
    expect(shouldRetry(0, new ApiError("down", 503))).toBe(true);
    expect(shouldRetry(0, new ApiError("bug", 500))).toBe(true);
    expect(shouldRetry(0, new ApiError("not built", 501))).toBe(false);
    for (const status of [400, 401, 403, 404, 409, 429]) expect(shouldRetry(0, new ApiError("no", status))).toBe(false);
    expect(shouldRetry(0, new Error("a bug of ours"))).toBe(false);
  });
  it("stops after MAX_ATTEMPTS", () => {
    expect(shouldRetry(MAX_ATTEMPTS - 2, new ApiError("down", 503))).toBe(true);
    expect(shouldRetry(MAX_ATTEMPTS - 1, new ApiError("down", 503))).toBe(false);
  });
  it("backs off and waits at least Retry-After", () => {
    const none = () => 0;
    expect(retryDelay(1, new ApiError("down", 502), none)).toBe(1000);
    expect(retryDelay(2, new ApiError("down", 502), none)).toBe(2000);
    expect(retryDelay(3, new ApiError("down", 502), none)).toBe(4000);
    expect(retryDelay(1, new ApiError("accounts unreachable", 503, 14, undefined, 7), none)).toBe(7000);
  });
});

describe("throwingClient", () => {
  it("throws the client's ApiError with status, trace id and Retry-After, and passes answers through", async () => {
    const fetchFn = (async (input: RequestInfo | URL) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.endsWith("/api/v1/me"))
        return new Response(JSON.stringify({ code: 14, message: "accounts database is unreachable", traceId: "4bf92f3577b34da6a3ce929d0e0e4736" }), {
          status: 503,
          headers: { "Content-Type": "application/json", "Retry-After": "5" },
        });
      return new Response(JSON.stringify({ version: "test" }), { status: 200, headers: { "Content-Type": "application/json" } });
    }) as typeof fetch;
    const client = throwingClient(createApi({ baseUrl: "http://x", fetch: fetchFn, emit: () => undefined }));
    const err = await client.GET("/api/v1/me").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 503, message: "accounts database is unreachable", traceId: "4bf92f3577b34da6a3ce929d0e0e4736", retryAfterSeconds: 5 });
    const ok = await client.GET("/api/v1/config");
    expect(ok.data?.version).toBe("test");
  });
  it("throws on an error with an empty body too", async () => {
    const fetchFn = (async () => new Response("", { status: 500 })) as typeof fetch;
    const client = throwingClient(createApi({ baseUrl: "http://x", fetch: fetchFn, emit: () => undefined }));
    await expect(client.GET("/api/v1/me")).rejects.toMatchObject({ status: 500, message: "Request failed (HTTP 500)." });
  });
});

describe("uniqueSessions", () => {
  it("joins pages and drops a session a later page repeats", () => {
    const s = (id: string) => ({ sessionId: id });
    expect(uniqueSessions([{ sessions: [s("a"), s("b")] }, { sessions: [s("b"), s("c")] }, {}]).map((x) => x.sessionId)).toEqual(["a", "b", "c"]);
    expect(uniqueSessions(undefined)).toEqual([]);
  });
});

describe("followApiEvents", () => {
  it("marks every query stale when the API answers again", () => {
    const qc = createQueryClient();
    qc.setQueryData(["get", "/api/v1/me"], { user: { id: "1" } });
    const off = followApiEvents(qc);
    expect(qc.getQueryState(["get", "/api/v1/me"])?.isInvalidated).toBe(false);
    announceRecovered();
    expect(qc.getQueryState(["get", "/api/v1/me"])?.isInvalidated).toBe(true);
    off();
  });
});

describe("optimisticList", () => {
  type Key = { id: string; revokeTime?: string };
  const key = ["get", "/api/v1/organizations/{organizationId}/api-keys"];
  const revoke = (qc: ReturnType<typeof createQueryClient>) =>
    optimisticList(qc, key, "apiKeys", (k: Key, v: { id: string }) => (k.id === v.id ? { ...k, revokeTime: "now" } : k));
  const drop = (qc: ReturnType<typeof createQueryClient>) => optimisticList(qc, key, "apiKeys", (k: Key, v: { id: string }) => (k.id === v.id ? null : k));

  it("edits or drops the item at once and restores the list when the write fails", async () => {
    const qc = createQueryClient();
    const before = { apiKeys: [{ id: "a" }, { id: "b" }], nextPageToken: "" };
    qc.setQueryData(key, before);
    const r = revoke(qc);
    const ctx = await r.onMutate({ id: "b" });
    expect(qc.getQueryData(key)).toEqual({ apiKeys: [{ id: "a" }, { id: "b", revokeTime: "now" }], nextPageToken: "" });
    r.onError(new Error("refused"), { id: "b" }, ctx);
    expect(qc.getQueryData(key)).toEqual(before);

    const d = drop(qc);
    await d.onMutate({ id: "a" });
    expect(qc.getQueryData(key)).toEqual({ apiKeys: [{ id: "b" }], nextPageToken: "" });
  });
  it("leaves a list that was never loaded alone", async () => {
    const qc = createQueryClient();
    await drop(qc).onMutate({ id: "a" });
    expect(qc.getQueryData(key)).toBeUndefined();
  });
});
