import { describe, expect, it } from "vitest";
import { bucketSplits, bucketStep, niceMax, timeIncrs, timeLabels, ySplits } from "./chartAxes";

const s = (iso: string) => Date.parse(iso) / 1000;

describe("chart axes", () => {
  it("scale the value axis to four round steps", () => {
    expect([0, 3, 7, 11, 13, 180, 999, NaN].map(niceMax)).toEqual([4, 4, 8, 12, 20, 200, 1000, 4]);
    expect(ySplits(10)).toEqual([0, 3, 6, 9, 12]);
  });

  it("name hours in the site's time zone, with the day where it changes", () => {
    // 22:00 and 23:00 UTC on 29 Nov are 07:00 and 08:00 on 30 Nov in Tokyo.
    expect(timeLabels([s("2026-11-29T22:00:00Z"), s("2026-11-29T23:00:00Z")], 3600, "Asia/Tokyo")).toEqual(["07:00", "08:00"]);
    expect(timeLabels([s("2026-11-29T22:00:00Z"), s("2026-11-30T00:00:00Z"), s("2026-11-30T02:00:00Z")], 7200, "UTC")).toEqual(["22:00\n29 Nov", "00:00\n30 Nov", "02:00"]);
  });

  it("name days and months, with the year on the first tick where needed", () => {
    expect(timeLabels([s("2026-11-02T00:00:00Z"), s("2026-11-09T00:00:00Z")], 7 * 86400, "UTC")).toEqual(["2 Nov", "9 Nov"]);
    expect(timeLabels([s("2026-12-28T00:00:00Z"), s("2027-01-04T00:00:00Z")], 7 * 86400, "UTC")).toEqual(["28 Dec\n2026", "4 Jan\n2027"]);
    expect(timeLabels([s("2026-11-01T00:00:00Z"), s("2026-12-01T00:00:00Z")], 30 * 86400, "UTC")).toEqual(["Nov\n2026", "Dec"]);
  });

  it("tick no finer than a bucket, and weeks on their own starts", () => {
    expect(timeIncrs(86_400)[0]).toBe(86_400);
    expect(timeIncrs(82_800)[0]).toBe(86_400);
    expect(timeIncrs(60).slice(0, 3)).toEqual([60, 300, 600]);
    const weeks = Array.from({ length: 10 }, (_, i) => i * 604_800);
    expect(bucketSplits(weeks, 1000, 64)).toEqual(weeks);
    expect(bucketSplits(weeks, 200, 64)).toEqual([1, 5, 9].map((i) => i * 604_800));
    expect(bucketSplits(weeks, 400, 64)).toEqual([1, 3, 5, 7, 9].map((i) => i * 604_800));
    expect(bucketSplits([], 300, 64)).toEqual([]);
  });

  it("take a bucket's length from the smallest gap (DST days are shorter)", () => {
    expect(bucketStep([0, 86400, 86400 + 82800, 86400 * 3], 3600)).toBe(82800);
    expect(bucketStep([5], 60)).toBe(60);
    expect(bucketStep([], 60)).toBe(60);
  });
});
