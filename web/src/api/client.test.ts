import { describe, expect, it } from "vitest";
import {
  createApi,
  checkApi,
  forbiddenAs,
  isMaintenanceMessage,
  isUnavailable,
  readCookie,
  toApiError,
  unwrap,
  ApiError,
  UNREACHABLE_MESSAGE,
  type ApiEvent,
} from "./client";

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
    // A proxy's HTML error page is not a message.
    expect(toApiError("<html><body>502 Bad Gateway</body></html>", new Response(null, { status: 502 })).message).toMatch(/unavailable right now/);
  });

  it("reports 401 (but not from log-in), maintenance, and outages with the server's message", async () => {
    const events: ApiEvent[] = [];
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
    const fetchFn = (async (input: RequestInfo | URL) => {
      const req = input as Request;
      if (req.url.includes("/auth/login")) return json(401, { message: "wrong e-mail or password" });
      if (req.url.endsWith("/me")) return json(401, {});
      if (req.url.endsWith("/organizations")) {
        return json(503, { code: 14, message: "maintenance: upgrading the database" }, { "Retry-After": "60" });
      }
      if (req.url.includes("/sites?")) {
        return json(503, { code: 14, message: "the accounts database is unreachable; recordings are still being collected", traceId: "abc" }, { "Retry-After": "5" });
      }
      if (req.url.includes("/sites/")) return new Response("<html>Bad gateway</html>", { status: 502 });
      throw new TypeError("Failed to fetch");
    }) as typeof fetch;
    const api = createApi({ baseUrl: "http://gw.test", fetch: fetchFn, getCookies: () => "", emit: (e) => events.push(e) });
    await api.POST("/api/v1/auth/login", { body: { email: "a@b.c", password: "x" } });
    await api.GET("/api/v1/me");
    await api.POST("/api/v1/organizations", { body: { name: "x" } });
    const list = await unwrap(
      api.GET("/api/v1/organizations/{organizationId}/sites", { params: { path: { organizationId: "9000000003" }, query: { pageSize: 5 } } }),
    ).catch((e: unknown) => e);
    await api.GET("/api/v1/sites/{siteId}", { params: { path: { siteId: "9000000004" } } });
    const write = await unwrap(api.POST("/api/v1/organizations/{organizationId}/sites", {
      params: { path: { organizationId: "9000000003" } },
      body: { name: "x" },
    })).catch((e: unknown) => e);
    expect(events).toEqual([
      { type: "unauthorized" },
      { type: "maintenance", retryAfterSeconds: 60 },
      {
        type: "unavailable",
        message: "the accounts database is unreachable; recordings are still being collected",
        retryAfterSeconds: 5,
        path: "/api/v1/organizations/9000000003/sites?pageSize=5",
      },
      { type: "unavailable", message: "Sightline is unavailable right now. Please try again shortly.", retryAfterSeconds: undefined, path: "/api/v1/sites/9000000004" },
      { type: "unavailable", message: UNREACHABLE_MESSAGE, path: undefined },
    ]);
    // The failed read keeps the server's message and trace id for the page; an outage is not a sign-out.
    expect(list).toBeInstanceOf(ApiError);
    expect((list as ApiError).status).toBe(503);
    expect((list as ApiError).message).toMatch(/accounts database is unreachable/);
    expect((list as ApiError).traceId).toBe("abc");
    expect(isUnavailable(list)).toBe(true);
    // A write that could not reach the server fails like any other, as an ApiError.
    expect(write).toBeInstanceOf(ApiError);
    expect((write as ApiError).status).toBe(0);
    expect(isUnavailable(write)).toBe(true);
    expect(isUnavailable(new ApiError("no", 401))).toBe(false);
    expect(isUnavailable(new ApiError("no", 500))).toBe(false);
  });

  it("forbiddenAs rewords a 403 only", () => {
    const forbidden = new ApiError("permission denied", 403);
    const other = new ApiError("not found", 404);
    expect(forbiddenAs(forbidden, "Ask an admin.")).toBe("Ask an admin.");
    expect(forbiddenAs(other, "Ask an admin.")).toBe(other);
    expect(forbiddenAs("offline", "Ask an admin.")).toBe("offline");
  });

  it("tells maintenance from an outage by the gateway's message", () => {
    expect(isMaintenanceMessage("maintenance: upgrading")).toBe(true);
    expect(isMaintenanceMessage("Maintenance")).toBe(true);
    expect(isMaintenanceMessage("the accounts database is unreachable")).toBe(false);
    expect(isMaintenanceMessage("")).toBe(false);
  });

  it("checkApi: up on any answer but 502/503/504 (or maintenance), down with the message and Retry-After", async () => {
    const answer = (r: Response) => (async () => r) as unknown as typeof fetch;
    expect(await checkApi("/api/v1/me", answer(new Response("{}", { status: 200 })))).toEqual({ up: true });
    expect(await checkApi("/api/v1/me", answer(new Response("{}", { status: 401 })))).toEqual({ up: true });
    expect(await checkApi("/api/v1/me", answer(new Response('{"message":"maintenance: x"}', { status: 503 })))).toEqual({ up: true });
    expect(
      await checkApi(
        "/api/v1/me",
        answer(new Response('{"message":"the accounts database is unreachable"}', { status: 503, headers: { "Retry-After": "7" } })),
      ),
    ).toEqual({ up: false, message: "the accounts database is unreachable", retryAfterSeconds: 7 });
    // The gateway's last good copy while accounts is down is not "back".
    expect(await checkApi("/api/v1/me", answer(new Response("{}", { status: 200, headers: { "X-Sightline-Stale": "12" } })))).toEqual({
      up: false,
    });
    expect(await checkApi("/api/v1/me", answer(new Response("<html></html>", { status: 504 })))).toEqual({
      up: false,
      message: undefined,
      retryAfterSeconds: undefined,
    });
  });

  it("reports a stale copy (X-Sightline-Stale) as an outage without a message, and returns it", async () => {
    const events: ApiEvent[] = [];
    const fetchFn = (async () =>
      new Response(JSON.stringify({ user: { email: "a@b.c" } }), {
        status: 200,
        headers: { "Content-Type": "application/json", "X-Sightline-Stale": "42" },
      })) as unknown as typeof fetch;
    const api = createApi({ baseUrl: "http://gw.test", fetch: fetchFn, getCookies: () => "", emit: (e) => events.push(e) });
    const me = await unwrap(api.GET("/api/v1/me"));
    expect(me.user?.email).toBe("a@b.c");
    expect(events).toEqual([{ type: "unavailable", message: "", path: "/api/v1/me" }]);
  });
});
