import { describe, expect, it } from "vitest";
import { keySpelling, readableUrl } from "./url";
// The server's cases for pagerule.Normal (pagerule_test.go reads the same file).
import normalCases from "../../../pagerule/testdata/normal.json";

describe("page URLs for people", () => {
  const key = "http://shop.example/caf%C3%A9/%C3%BC%20x%22y'z";

  it("shows a key decoded, when decoding names the same page", () => {
    expect(readableUrl(key)).toBe(`http://shop.example/café/ü x"y'z`);
    // An encoded slash, or a percent sign before hex digits, would read as another URL: kept encoded.
    expect(readableUrl("http://a.example/a%2Fb")).toBe("http://a.example/a%2Fb");
    expect(readableUrl("http://a.example/%2541")).toBe("http://a.example/%2541");
    expect(readableUrl("http://a.example/100%25")).toBe("http://a.example/100%");
    expect(readableUrl("http://a.example/%E0%A4%A")).toBe("http://a.example/%E0%A4%A");
  });

  it("spells a readable rule as keys are spelled, as the server's pagerule.Normal (the same cases)", () => {
    expect(keySpelling(`http://Shop.Example/café/ü x"y'z`)).toBe(key);
    const cases = normalCases as [string, string][];
    expect(cases.length).toBeGreaterThan(5);
    for (const [raw, want] of cases) expect(keySpelling(raw), raw).toBe(want);
  });
});
