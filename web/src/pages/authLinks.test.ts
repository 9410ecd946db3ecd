import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import { isUnverified, linkToken, passwordProblem, rememberNext, safeNext, takeNext } from "./authLinks";

describe("safeNext", () => {
  it("keeps same-site paths only", () => {
    expect(safeNext("/o/1/sites")).toBe("/o/1/sites");
    expect(safeNext("//evil.example/x")).toBe("/");
    expect(safeNext("https://evil.example")).toBe("/");
    expect(safeNext(null)).toBe("/");
  });
});

describe("linkToken", () => {
  it("reads a token from the link", () => {
    expect(linkToken("?token=slv_abcDEF012-_xyz")).toBe("slv_abcDEF012-_xyz");
    expect(linkToken("?a=1&token=%20slr_abcdefghij%20")).toBe("slr_abcdefghij");
  });
  it("answers empty for missing or mangled tokens", () => {
    expect(linkToken("")).toBe("");
    expect(linkToken("?token=")).toBe("");
    expect(linkToken("?token=short")).toBe("");
    expect(linkToken("?token=slv_abc%3Cscript%3Edefgh")).toBe("");
    expect(linkToken(`?token=${"a".repeat(201)}`)).toBe("");
  });
});

describe("isUnverified", () => {
  it("tells the unconfirmed-address refusal from other errors", () => {
    expect(isUnverified(new ApiError("confirm your e-mail address first", 400, 9))).toBe(true);
    expect(isUnverified(new ApiError("invalid e-mail or password", 401, 16))).toBe(false);
    expect(isUnverified(new Error("network"))).toBe(false);
    expect(isUnverified(undefined)).toBe(false);
  });
});

describe("passwordProblem", () => {
  it("checks length in characters and the repetition", () => {
    expect(passwordProblem("short", "short")).toMatch(/at least 10/);
    expect(passwordProblem("ééééééééé", "ééééééééé")).toMatch(/at least 10/);
    expect(passwordProblem("a long passphrase", "a long passphrasE")).toMatch(/differ/);
    expect(passwordProblem("a long passphrase", "a long passphrase")).toBe("");
  });
});

describe("rememberNext / takeNext", () => {
  function memory() {
    const m = new Map<string, string>();
    return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
  }
  it("hands a safe path over once", () => {
    const s = memory();
    rememberNext("/invite?token=sli_x", s);
    expect(takeNext(s)).toBe("/invite?token=sli_x");
    expect(takeNext(s)).toBe("/");
  });
  it("never keeps another site", () => {
    const s = memory();
    rememberNext("//evil.example", s);
    expect(takeNext(s)).toBe("/");
  });
});
