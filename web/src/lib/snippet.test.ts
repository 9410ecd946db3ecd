import { describe, expect, it } from "vitest";
import { domainProblem, installSnippet, normalizeDomain, snippetBase } from "./snippet";

describe("install snippet", () => {
  it("points at the site's bootstrap script", () => {
    expect(installSnippet("https://sightline.example.com/", "k_AbC123")).toBe(
      '<script async src="https://sightline.example.com/s/k_AbC123.js"></script>',
    );
    expect(installSnippet("http://127.0.0.1:8080", "k<x>")).toBe('<script async src="http://127.0.0.1:8080/s/k%3Cx%3E.js"></script>');
  });
  it("points at the configured public URL, else the dashboard's origin with a warning", () => {
    expect(snippetBase("https://rec.example.com", "http://localhost:8080")).toEqual({ base: "https://rec.example.com", warning: undefined });
    expect(snippetBase("http://rec.example.com", "http://localhost:8080")).toEqual({ base: "http://rec.example.com", warning: "http" });
    expect(snippetBase(undefined, "http://localhost:8080")).toEqual({ base: "http://localhost:8080", warning: "unset" });
    expect(snippetBase("", "https://sightline.example.com")).toEqual({ base: "https://sightline.example.com", warning: "unset" });
    const { base } = snippetBase("https://example.com/sightline", "http://localhost:8080");
    expect(installSnippet(base, "k_1")).toBe('<script async src="https://example.com/sightline/s/k_1.js"></script>');
  });
  it("normalises pasted domains", () => {
    expect(normalizeDomain(" https://Shop.Example.com/pricing?x=1 ")).toBe("shop.example.com");
    expect(normalizeDomain("*.example.com")).toBe("*.example.com");
    expect(normalizeDomain("localhost:5173")).toBe("localhost");
    expect(normalizeDomain("example.com.")).toBe("example.com");
  });
});

describe("domainProblem", () => {
  // The same inputs as sitedomain's TestNormalize: accepted there, accepted here.
  it("accepts what the server accepts", () => {
    for (const d of ["shop.example.com", "shop.example.com.", "*.example.com", "*.shop.example.co.uk", "bücher.example", "*.bücher.example", "localhost", "127.0.0.1"]) {
      expect(domainProblem(d), d).toBeUndefined();
    }
  });
  it("says in plain words what is wrong", () => {
    expect(domainProblem("my shop.com")).toMatch(/can't contain spaces/);
    expect(domainProblem("")).toMatch(/Enter the domain/);
    expect(domainProblem("u@x.com")).toMatch(/no path, port or user name/);
    expect(domainProblem("[::1]")).toMatch(/no path, port or user name/);
    expect(domainProblem("a..b")).toMatch(/two dots in a row/);
    expect(domainProblem(".x.com")).toMatch(/start or end with a dot/);
    expect(domainProblem("*")).toMatch(/too much|whole first part/);
    expect(domainProblem("*.com")).toMatch(/would cover too much/);
    expect(domainProblem("*.*.x.com")).toMatch(/whole first part/);
    expect(domainProblem("a.*.x.com")).toMatch(/whole first part/);
    expect(domainProblem("x*.com")).toMatch(/whole first part/);
    expect(domainProblem("-a.com")).toMatch(/hyphen/);
    expect(domainProblem("bad_host.com")).toMatch(/letters, digits, hyphens/);
    expect(domainProblem("a".repeat(64) + ".com")).toMatch(/63 characters/);
    expect(domainProblem("a.".repeat(127) + "a")).toMatch(/253 characters/);
  });
  it("checks what the forms send: the pasted address normalised first", () => {
    expect(domainProblem(normalizeDomain("https://Shop.Example.com:8443/pricing"))).toBeUndefined();
  });
});
