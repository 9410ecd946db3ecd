import { describe, expect, it } from "vitest";
import {
  countLine,
  plural,
  sentence,
  countryFlag,
  formatClock,
  formatDuration,
  formatRelative,
  parseDuration,
  toProtoDuration,
  sharedPrefix,
  splitPath,
  urlPath,
} from "./format";

describe("protojson durations", () => {
  it("parses the forms protojson writes", () => {
    expect(parseDuration("12.5s")).toBe(12500);
    expect(parseDuration("0s")).toBe(0);
    expect(parseDuration("3600s")).toBe(3_600_000);
    expect(parseDuration("0.000001s")).toBe(0);
    expect(parseDuration("1.000340s")).toBe(1000);
    expect(parseDuration("-3s")).toBe(-3000);
  });
  it("treats missing or malformed values as zero", () => {
    expect(parseDuration(undefined)).toBe(0);
    expect(parseDuration("")).toBe(0);
    expect(parseDuration("12m")).toBe(0);
    expect(parseDuration("abc")).toBe(0);
  });
  it("writes seconds back", () => {
    expect(toProtoDuration(30)).toBe("30s");
    expect(toProtoDuration(2.5)).toBe("2.5s");
    expect(toProtoDuration(0)).toBe("0s");
    expect(toProtoDuration(0.0004)).toBe("0s");
    expect(parseDuration(toProtoDuration(61.25))).toBe(61250);
    expect(() => toProtoDuration(Number.NaN)).toThrow();
  });
});

describe("clock and list durations", () => {
  it("formats a player clock", () => {
    expect(formatClock(0)).toBe("0:00");
    expect(formatClock(7_900)).toBe("0:07");
    expect(formatClock(725_000)).toBe("12:05");
    expect(formatClock(3_723_000)).toBe("1:02:03");
    expect(formatClock(-5)).toBe("0:00");
  });
  it("formats list durations", () => {
    expect(formatDuration(45_000)).toBe("45s");
    expect(formatDuration(185_000)).toBe("3m 05s");
    expect(formatDuration(3_720_000)).toBe("1h 02m");
    expect(formatDuration(59_600)).toBe("1m 00s");
    expect(formatDuration(Number.NaN)).toBe("–");
  });
});

describe("times and places", () => {
  const now = new Date("2026-11-23T12:00:00Z");
  it("says how long ago", () => {
    expect(formatRelative("2026-11-23T11:59:50Z", now)).toBe("just now");
    expect(formatRelative("2026-11-23T11:55:00Z", now)).toBe("5 min ago");
    expect(formatRelative("2026-11-23T09:00:00Z", now)).toBe("3 h ago");
    expect(formatRelative("2026-11-22T12:00:00Z", now)).toBe("1 day ago");
    expect(formatRelative(undefined, now)).toBe("never");
  });
  it("draws flags for valid codes only", () => {
    expect(countryFlag("de")).toBe("🇩🇪");
    expect(countryFlag("")).toBe("");
    expect(countryFlag("DEU")).toBe("");
  });
  it("shows URL paths", () => {
    expect(urlPath("https://shop.example.com/pricing?plan=pro#x")).toBe("/pricing?plan=pro#x");
    expect(urlPath("https://shop.example.com")).toBe("/");
    expect(urlPath("not a url")).toBe("not a url");
  });
});

describe("splitPath", () => {
  it("keeps the last segment, its query and hash, whole", () => {
    expect(splitPath("/demo/k_abc/products/mug")).toEqual({ head: "/demo/k_abc/products", tail: "/mug" });
    expect(splitPath("/demo/k_abc/cart?add=mug")).toEqual({ head: "/demo/k_abc", tail: "/cart?add=mug" });
    expect(splitPath("/demo/k_abc/")).toEqual({ head: "/demo", tail: "/k_abc/" });
    expect(splitPath("/a/b?next=/c/d#x/y")).toEqual({ head: "/a", tail: "/b?next=/c/d#x/y" });
  });
  it("leaves a one-segment path, and anything that is not a path, in the tail", () => {
    expect(splitPath("/pricing")).toEqual({ head: "", tail: "/pricing" });
    expect(splitPath("/")).toEqual({ head: "", tail: "/" });
    expect(splitPath("")).toEqual({ head: "", tail: "" });
    expect(splitPath("(unknown)")).toEqual({ head: "", tail: "(unknown)" });
  });
});

describe("sharedPrefix", () => {
  it("is the whole segments every path starts with", () => {
    expect(sharedPrefix(["/demo/k_abc/", "/demo/k_abc/products/mug", "/demo/k_abc/cart?add=mug"])).toBe("/demo/k_abc/");
    expect(sharedPrefix(["/a/b", "/a/bc"])).toBe("/a/");
    expect(sharedPrefix(["/demo/k_abc", "/demo/k_abc/products/mug", "/demo/k_abc/cart"])).toBe("/demo/k_abc/");
    expect(sharedPrefix(["/shop/x?next=/shop/y", "/shop/x?next=/shop/z"])).toBe("/shop/");
  });
  it("is empty with less than two different paths, or only / in common", () => {
    expect(sharedPrefix(["/demo/k_abc/x", "/demo/k_abc/x"])).toBe("");
    expect(sharedPrefix(["/demo/k_abc/x"])).toBe("");
    expect(sharedPrefix([])).toBe("");
    expect(sharedPrefix(["/", "/pricing"])).toBe("");
    expect(sharedPrefix(["/a/x", "(unknown)"])).toBe("");
  });
});

describe("sentence", () => {
  it("capitalises and ends a server message", () => {
    expect(sentence("the accounts database is unreachable; recordings are still being collected")).toBe(
      "The accounts database is unreachable; recordings are still being collected.",
    );
    expect(sentence(" Done. ")).toBe("Done.");
    expect(sentence("")).toBe("");
  });
});

describe("countLine", () => {
  it("agrees the verb with the count", () => {
    expect(countLine(1, "recording", true)).toBe("1 recording matches your filters");
    expect(countLine(0, "recording", true)).toBe("0 recordings match your filters");
    expect(countLine(1200, "response", true)).toBe(`${(1200).toLocaleString()} responses match your filters`);
    expect(countLine(1, "recording", false)).toBe("1 recording");
  });
});

describe("plural", () => {
  it("says 1 session, 0 and 2 sessions, and takes irregular plurals", () => {
    expect(plural(1, "session")).toBe("1 session");
    expect(plural(0, "session")).toBe("0 sessions");
    expect(plural(2, "session")).toBe("2 sessions");
    expect(plural(1, "reply", "replies")).toBe("1 reply");
    expect(plural(3, "reply", "replies")).toBe("3 replies");
  });
});
