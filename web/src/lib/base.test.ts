import { describe, expect, it } from "vitest";
import { baseFromHref, withBase, withoutBase } from "./base";

describe("baseFromHref", () => {
  it("reads the gateway's <base href> as a prefix without the trailing slash", () => {
    expect(baseFromHref("/")).toBe("");
    expect(baseFromHref("/sightline/")).toBe("/sightline");
    expect(baseFromHref("/tools/sightline/")).toBe("/tools/sightline");
    expect(baseFromHref("/a%20b/")).toBe("/a%20b");
    expect(baseFromHref("https://example.com/sightline/")).toBe("/sightline");
  });
  it("is the root without a usable base", () => {
    expect(baseFromHref(undefined)).toBe("");
    expect(baseFromHref(null)).toBe("");
    expect(baseFromHref("")).toBe("");
    expect(baseFromHref("http://[::1")).toBe("");
  });
});

describe("withBase and withoutBase", () => {
  it("prefix and unprefix root-relative paths", () => {
    expect(withBase("/api/v1/me", "")).toBe("/api/v1/me");
    expect(withBase("/api/v1/me", "/sightline")).toBe("/sightline/api/v1/me");
    expect(withoutBase("/sightline/api/v1/auth/login", "/sightline")).toBe("/api/v1/auth/login");
    expect(withoutBase("/sightline", "/sightline")).toBe("/");
    expect(withoutBase("/api/v1/me", "")).toBe("/api/v1/me");
    // A path that only starts with the same letters is not below the prefix.
    expect(withoutBase("/sightlinex/api", "/sightline")).toBe("/sightlinex/api");
  });
});
