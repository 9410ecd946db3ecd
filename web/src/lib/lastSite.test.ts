import { describe, expect, it } from "vitest";
import { lastSite, rememberSite, siteToShow } from "./lastSite";
import type { KV } from "./watched";

function memory(): KV {
  const data = new Map<string, string>();
  return { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
}

describe("the last site", () => {
  it("is remembered per organisation and overall", () => {
    const kv = memory();
    rememberSite("1", "12", kv);
    rememberSite("2", "20", kv);
    expect(siteToShow("1", ["11", "12"], kv)).toBe("12");
    expect(siteToShow("2", ["20", "21"], kv)).toBe("20");
    expect(lastSite(kv)).toEqual({ orgId: "2", siteId: "20" });
  });
  it("falls back to the first site when the remembered one is gone", () => {
    const kv = memory();
    rememberSite("1", "99", kv);
    expect(siteToShow("1", ["11", "12"], kv)).toBe("11");
    expect(siteToShow("3", ["30"], kv)).toBe("30");
    expect(siteToShow("3", [], kv)).toBeUndefined();
  });
  it("reads the overall last site of before, in its organisation", () => {
    const kv = memory();
    kv.setItem("sightline.lastSite", JSON.stringify({ orgId: "1", siteId: "12" }));
    expect(siteToShow("1", ["11", "12"], kv)).toBe("12");
    expect(siteToShow("2", ["21", "12"], kv)).toBe("21");
  });
  it("does without storage and survives junk", () => {
    expect(siteToShow("1", ["11"], undefined)).toBe("11");
    rememberSite("1", "11", undefined);
    const kv = memory();
    kv.setItem("sightline.lastSite", "{not json");
    expect(lastSite(kv)).toBeUndefined();
    kv.setItem("sightline.lastSite", JSON.stringify({ orgId: 1 }));
    expect(lastSite(kv)).toBeUndefined();
  });
});
