import { describe, expect, it } from "vitest";
import { niceMax, xTicks } from "./Chart";
import { parseEvent } from "./realtime";

describe("realtime events", () => {
  it("read the response itself or wrapped in result", () => {
    expect(parseEvent('{"visitors":"3","perMinute":["1","2"]}')).toEqual({ visitors: "3", perMinute: ["1", "2"] });
    expect(parseEvent('{"result":{"visitors":"1","asOf":"2026-11-30T12:00:00Z"}}')).toEqual({ visitors: "1", asOf: "2026-11-30T12:00:00Z" });
    expect(parseEvent("{}")).toBeUndefined();
    expect(parseEvent("not json")).toBeUndefined();
    expect(parseEvent("null")).toBeUndefined();
  });

  it("scale chart axes to round numbers", () => {
    expect(xTicks(30)).toEqual([4, 9, 14, 19, 24, 29]);
    expect(xTicks(7)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(xTicks(0)).toEqual([]);
    expect([0, 3, 7, 11, 13, 180, 999].map(niceMax)).toEqual([4, 4, 8, 12, 20, 200, 1000]);
  });
});
