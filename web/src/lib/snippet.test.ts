import { describe, expect, it } from "vitest";
import { installSnippet, normalizeDomain } from "./snippet";

describe("install snippet", () => {
  it("points at the site's bootstrap script", () => {
    expect(installSnippet("https://sightline.example.com/", "k_AbC123")).toBe(
      '<script async src="https://sightline.example.com/s/k_AbC123.js"></script>',
    );
    expect(installSnippet("http://127.0.0.1:8080", "k<x>")).toBe('<script async src="http://127.0.0.1:8080/s/k%3Cx%3E.js"></script>');
  });
  it("normalises pasted domains", () => {
    expect(normalizeDomain(" https://Shop.Example.com/pricing?x=1 ")).toBe("shop.example.com");
    expect(normalizeDomain("*.example.com")).toBe("*.example.com");
    expect(normalizeDomain("localhost:5173")).toBe("localhost");
    expect(normalizeDomain("example.com.")).toBe("example.com");
  });
});
