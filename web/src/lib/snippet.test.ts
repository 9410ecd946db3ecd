import { describe, expect, it } from "vitest";
import { installSnippet, normalizeDomain, snippetBase } from "./snippet";

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
