import { describe, expect, it } from "vitest";
import { createApi, readCookie, toApiError, unwrap, ApiError, type ApiEvent } from "./client";

function recorder() {
  const seen: Request[] = [];
  const fetchFn = async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(input, init);
    seen.push(req);
    if (req.url.endsWith("/api/v1/sites/9000000001")) {
      return new Response(JSON.stringify({ code: 5, message: "site not found", traceId: "4bf92f3577b34da6a3ce929d0e0e4736" }), {
        status: 404,
        headers: { "Content-Type": "application/json" },
      });
    }
    return new Response(JSON.stringify({ site: { id: "9000000001" } }), {
      status: 200,
      headers: { "Content-Type": "application/json" },
    });
  };
  return { seen, fetchFn: fetchFn as typeof fetch };
}

describe("readCookie", () => {
  it("finds a cookie among others and decodes it", () => {
    expect(readCookie("a=1; sl_csrf=abc%3D%3D; b=2", "sl_csrf")).toBe("abc==");
    expect(readCookie("xsl_csrf=no; sl_csrf2=no", "sl_csrf")).toBeUndefined();
    expect(readCookie("", "sl_csrf")).toBeUndefined();
    expect(readCookie("sl_csrf=%E0%A4%A", "sl_csrf")).toBe("%E0%A4%A");
  });
});

describe("CSRF header injection", () => {
  it("adds X-CSRF-Token to writes and not to reads", async () => {
    const { seen, fetchFn } = recorder();
    const api = createApi({ baseUrl: "http://gw.test", fetch: fetchFn, getCookies: () => "sl_csrf=tok-123; other=x" });
    await api.GET("/api/v1/sites/{siteId}", { params: { path: { siteId: "9000000002" } } });
    await api.PATCH("/api/v1/sites/{siteId}", { params: { path: { siteId: "9000000002" } }, body: { name: "Shop" } });
    await api.DELETE("/api/v1/sites/{siteId}", { params: { path: { siteId: "9000000002" } } });
    await api.POST("/api/v1/sites/{siteId}/sessions:search", {
      params: { path: { siteId: "9000000002" } },
      body: { pageSize: 10 },
    });
    expect(seen.map((r) => [r.method, r.headers.get("X-CSRF-Token")])).toEqual([
      ["GET", null],
      ["PATCH", "tok-123"],
      ["DELETE", "tok-123"],
      ["POST", "tok-123"],
    ]);
    expect(seen[3]!.url).toBe("http://gw.test/api/v1/sites/9000000002/sessions:search");
  });

  it("reads the cookie at request time, so a new log-in's token is used", async () => {
    const { seen, fetchFn } = recorder();
    let cookies = "";
    const api = createApi({ baseUrl: "http://gw.test", fetch: fetchFn, getCookies: () => cookies });
    await api.POST("/api/v1/auth/logout", { body: {} });
    cookies = "sl_csrf=fresh";
    await api.POST("/api/v1/auth/logout", { body: {} });
    expect(seen.map((r) => r.headers.get("X-CSRF-Token"))).toEqual([null, "fresh"]);
  });
});

describe("errors", () => {
  it("unwrap throws the gateway's message with its status", async () => {
    const { fetchFn } = recorder();
    const api = createApi({ baseUrl: "http://gw.test", fetch: fetchFn, getCookies: () => "" });
    const err = await unwrap(api.GET("/api/v1/sites/{siteId}", { params: { path: { siteId: "9000000001" } } })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(404);
    expect((err as ApiError).message).toBe("site not found");
    expect((err as ApiError).traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
  });

  it("falls back to a message per status", () => {
    expect(toApiError(undefined, new Response(null, { status: 429 })).message).toMatch(/Too many requests/);
    expect(toApiError("spool full\n", new Response(null, { status: 503 })).message).toBe("spool full");
  });

  it("reports 401 (but not from log-in) and 503 with Retry-After", async () => {
    const events: ApiEvent[] = [];
    const { onApiEvent } = await import("./client");
    const off = onApiEvent((e) => events.push(e));
    const fetchFn = (async (input: RequestInfo | URL) => {
      const req = input as Request;
      if (req.url.includes("/auth/login")) return new Response("{}", { status: 401 });
      if (req.url.includes("/me")) return new Response("{}", { status: 401 });
      return new Response("{}", { status: 503, headers: { "Retry-After": "30" } });
    }) as typeof fetch;
    const api = createApi({ baseUrl: "http://gw.test", fetch: fetchFn, getCookies: () => "" });
    await api.POST("/api/v1/auth/login", { body: { email: "a@b.c", password: "x" } });
    await api.GET("/api/v1/me");
    await api.POST("/api/v1/organizations", { body: { name: "x" } });
    off();
    expect(events).toEqual([{ type: "unauthorized" }, { type: "maintenance", retryAfterSeconds: 30 }]);
  });
});
