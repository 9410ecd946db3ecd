import { describe, expect, it } from "vitest";
import { fromSearchParams, toFilter } from "../lib/filters";
import {
  addDays,
  defaultInterval,
  delta,
  DIMENSIONS,
  formatCount,
  formatRate,
  fromParams,
  pagePath,
  rangeDates,
  rangeTimes,
  recordingsHref,
  rowFilter,
  rowHref,
  rowLabel,
  toParams,
  toTrafficFilter,
  tzOffsetMs,
  validTimeZone,
  zonedDate,
  zonedMidnight,
} from "./query";

const dim = (k: string) => DIMENSIONS.find((d) => d.key === k)!;
const now = new Date("2026-11-30T12:34:00Z");
const base = "/o/1/sites/2";

describe("time zones", () => {
  it("finds midnights across DST changes (23- and 25-hour days)", () => {
    expect(zonedMidnight("2026-03-29", "Europe/Berlin").toISOString()).toBe("2026-03-28T23:00:00.000Z");
    expect(zonedMidnight("2026-03-30", "Europe/Berlin").toISOString()).toBe("2026-03-29T22:00:00.000Z");
    expect(zonedMidnight("2026-10-25", "Europe/Berlin").toISOString()).toBe("2026-10-24T22:00:00.000Z");
    expect(zonedMidnight("2026-10-26", "Europe/Berlin").toISOString()).toBe("2026-10-25T23:00:00.000Z");
    expect(zonedMidnight("2026-11-08", "America/New_York").toISOString()).toBe("2026-11-08T05:00:00.000Z");
    expect(zonedMidnight("2026-11-30", "Asia/Kolkata").toISOString()).toBe("2026-11-29T18:30:00.000Z");
    expect(zonedMidnight("2026-11-30", "UTC").toISOString()).toBe("2026-11-30T00:00:00.000Z");
    expect(tzOffsetMs(Date.parse("2026-07-01T00:00:00Z"), "Europe/Berlin")).toBe(2 * 3_600_000);
  });

  it("reads the date in the zone, not the viewer's", () => {
    expect(zonedDate(new Date("2026-11-30T23:30:00Z"), "Asia/Tokyo")).toBe("2026-12-01");
    expect(zonedDate(new Date("2026-11-30T03:00:00Z"), "America/Los_Angeles")).toBe("2026-11-29");
    expect(addDays("2026-03-01", -1)).toBe("2026-02-28");
    expect(validTimeZone("Not/AZone")).toBe("UTC");
    expect(validTimeZone("")).toBe("UTC");
    expect(validTimeZone("Europe/Berlin")).toBe("Europe/Berlin");
  });
});

describe("ranges", () => {
  it("are whole days in the site's zone ending after today", () => {
    expect(rangeTimes({ range: "today" }, now, "Europe/Berlin")).toEqual({ start: "2026-11-29T23:00:00.000Z", end: "2026-11-30T23:00:00.000Z" });
    expect(rangeTimes({ range: "yesterday" }, now, "UTC")).toEqual({ start: "2026-11-29T00:00:00.000Z", end: "2026-11-30T00:00:00.000Z" });
    expect(rangeDates({ range: "7d" }, now, "UTC")).toEqual({ from: "2026-11-24", to: "2026-11-30" });
    expect(rangeDates({ range: "90d" }, now, "UTC").from).toBe("2026-09-02");
  });

  it("order a custom range and cap it at 400 days", () => {
    expect(rangeDates({ range: "custom", from: "2026-11-10", to: "2026-11-01" }, now, "UTC")).toEqual({ from: "2026-11-01", to: "2026-11-10" });
    expect(rangeDates({ range: "custom", from: "2020-01-01", to: "2026-11-30" }, now, "UTC")).toEqual({ from: addDays("2026-11-30", -399), to: "2026-11-30" });
  });

  it("pick the server's default interval", () => {
    expect([1, 2, 3, 92, 93].map(defaultInterval)).toEqual(["hour", "hour", "day", "day", "week"]);
  });
});

describe("URL state", () => {
  it("round-trips and leaves defaults out", () => {
    expect(toParams(fromParams(new URLSearchParams(""))).toString()).toBe("");
    const q = fromParams(new URLSearchParams("range=custom&from=2026-11-01&to=2026-11-07&interval=week&ref=news.example&device=mobile&utm_campaign=spring&page=https%3A%2F%2Fshop.example%2Fp"));
    expect(q).toMatchObject({ range: "custom", from: "2026-11-01", to: "2026-11-07", interval: "week", referrer: "news.example", device: "mobile", utmCampaign: "spring", page: "https://shop.example/p" });
    expect(fromParams(toParams(q))).toEqual(q);
  });

  it("ignores what it cannot read", () => {
    expect(fromParams(new URLSearchParams("range=forever&interval=minute"))).toEqual({ range: "7d" });
    expect(fromParams(new URLSearchParams("range=custom&from=x")).range).toBe("7d");
  });

  it("maps onto TrafficFilter", () => {
    const q = fromParams(new URLSearchParams("page=https://a.example/x&entry=https://a.example/&device=desktop&country=DE&browser=Chrome&os=Linux&screen=1920x1080&utm_source=nl"));
    expect(toTrafficFilter(q)).toEqual({
      visitedPage: { operator: "OPERATOR_EQUALS", value: "https://a.example/x" },
      entryPage: { operator: "OPERATOR_EQUALS", value: "https://a.example/" },
      deviceTypes: ["DEVICE_TYPE_DESKTOP"],
      countries: ["DE"],
      browsers: ["Chrome"],
      oses: ["Linux"],
      screenSize: "1920x1080",
      utmSource: "nl",
    });
    expect(toTrafficFilter({ range: "7d", exit: "https://a.example/bye", referrer: "x.example", utmMedium: "email", utmCampaign: "spring" })).toEqual({
      exitPage: { operator: "OPERATOR_EQUALS", value: "https://a.example/bye" },
      referrerDomain: "x.example",
      utmMedium: "email",
      utmCampaign: "spring",
    });
    expect(toTrafficFilter({ range: "7d", direct: true, referrer: "x.example" })).toEqual({ direct: true });
    expect(toTrafficFilter({ range: "7d" })).toEqual({});
  });
});

describe("links to the recordings list", () => {
  const read = (href: string | undefined) => {
    expect(href).toBeDefined();
    const [path, qs] = href!.split("?");
    expect(path).toBe(`${base}/recordings`);
    return fromSearchParams(new URLSearchParams(qs));
  };

  it("map each dimension onto its sessions filter field, with the range's days", () => {
    const q = { range: "7d" as const };
    const cases: [string, string, Record<string, unknown>][] = [
      ["page", "https://shop.example/pricing", { visitedPage: { operator: "OPERATOR_EQUALS", value: "https://shop.example/pricing" } }],
      ["entry", "https://shop.example/", { entryPage: { operator: "OPERATOR_EQUALS", value: "https://shop.example/" } }],
      ["exit", "https://shop.example/cart", { exitPage: { operator: "OPERATOR_EQUALS", value: "https://shop.example/cart" } }],
      ["referrer", "news.example", { referrerDomain: "news.example" }],
      ["utm_source", "newsletter", { utmSource: "newsletter" }],
      ["utm_medium", "email", { utmMedium: "email" }],
      ["utm_campaign", "spring", { utmCampaign: "spring" }],
      ["country", "FR", { countries: ["FR"] }],
      ["device", "DEVICE_TYPE_MOBILE", { deviceTypes: ["DEVICE_TYPE_MOBILE"] }],
      ["browser", "Firefox", { browsers: ["Firefox"] }],
      ["os", "iOS", { oses: ["iOS"] }],
    ];
    for (const [k, v, want] of cases) {
      const rq = read(rowHref(base, q, dim(k), v, now, "UTC"));
      expect(rq.range, k).toBe("custom");
      expect([rq.from, rq.to], k).toEqual(["2026-11-24", "2026-11-30"]);
      const f = toFilter(rq, now);
      delete f.startTime;
      expect(f, k).toEqual(want);
    }
  });

  it("carry the overview's own filter and a tile's condition", () => {
    const rq = read(recordingsHref(base, { range: "today", utmCampaign: "spring", device: "mobile" }, now, "UTC", { hasRageClicks: true }));
    const f = toFilter(rq, now);
    delete f.startTime;
    expect(f).toEqual({ utmCampaign: "spring", deviceTypes: ["DEVICE_TYPE_MOBILE"], hasRageClicks: true });
    expect([rq.from, rq.to]).toEqual(["2026-11-30", "2026-11-30"]);
  });

  it("do not link what the sessions filter cannot say", () => {
    expect(rowHref(base, { range: "7d" }, dim("screen"), "1920x1080", now, "UTC")).toBeUndefined();
    expect(rowHref(base, { range: "7d" }, dim("referrer"), "", now, "UTC")).toBeUndefined();
    expect(recordingsHref(base, { range: "7d", screen: "390x844" }, now, "UTC")).toBeUndefined();
    expect(rowFilter(dim("referrer"), "")).toEqual({ direct: true, referrer: undefined });
    expect(rowFilter(dim("country"), "")).toEqual({});
    expect(rowHref(base, { range: "7d" }, dim("country"), "", now, "UTC")).toBeUndefined();
    expect(rowFilter(dim("device"), "DEVICE_TYPE_TABLET")).toEqual({ device: "tablet" });
  });
});

describe("formatting", () => {
  it("writes deltas with the figure's sense", () => {
    expect(delta(120, 100, "up-good")).toMatchObject({ text: "↑ 20%", tone: "good" });
    expect(delta(80, 100, "up-good")).toMatchObject({ text: "↓ 20%", tone: "bad" });
    expect(delta(0.6, 0.5, "up-bad", true)).toMatchObject({ text: "↑ 10.0 pp", tone: "bad" });
    expect(delta(0.4, 0.5, "up-bad", true)).toMatchObject({ text: "↓ 10.0 pp", tone: "good" });
    expect(delta(103, 100, "up-good")).toMatchObject({ text: "↑ 3.0%" });
    expect(delta(5, 0, "up-good")).toMatchObject({ text: "↑ new", tone: "good" });
    expect(delta(0, 0, "up-good")).toMatchObject({ text: "0%", tone: "flat" });
    expect(delta(100, 100.2, "up-good")).toMatchObject({ tone: "flat" });
    expect(delta(undefined, 3, "up-good")).toBeUndefined();
    expect(delta(3, undefined, "up-good")).toBeUndefined();
  });

  it("writes rates, counts and labels", () => {
    expect([0, 0.125, 0.5, 1, 0.0333].map(formatRate)).toEqual(["0%", "13%", "50%", "100%", "3.3%"]);
    expect(formatRate(undefined)).toBe("—");
    expect([7, 9999, 12_345, 123_456, 1_234_567].map(formatCount)).toEqual(["7", "9,999", "12.3k", "123k", "1.2M"]);
    expect(rowLabel("TRAFFIC_DIMENSION_REFERRER", "")).toBe("Direct / none");
    expect(rowLabel("TRAFFIC_DIMENSION_SCREEN_SIZE", "1920x1080")).toBe("1920 × 1080");
    expect(rowLabel("TRAFFIC_DIMENSION_DEVICE_TYPE", "DEVICE_TYPE_MOBILE")).toBe("Mobile");
    expect(rowLabel("TRAFFIC_DIMENSION_COUNTRY", "")).toBe("Unknown");
    expect(pagePath("https://shop.example")).toBe("/");
    expect(pagePath("https://shop.example/a/b")).toBe("/a/b");
  });
});
