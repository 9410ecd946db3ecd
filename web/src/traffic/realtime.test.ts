import { describe, expect, it } from "vitest";
import { parseEvent } from "./realtime";

describe("realtime events", () => {
  it("read the response itself or wrapped in result", () => {
    expect(parseEvent('{"visitors":"3","perMinute":["1","2"]}')).toEqual({ visitors: "3", perMinute: ["1", "2"] });
    expect(parseEvent('{"result":{"visitors":"1","asOf":"2026-11-30T12:00:00Z"}}')).toEqual({ visitors: "1", asOf: "2026-11-30T12:00:00Z" });
    expect(parseEvent("{}")).toBeUndefined();
    expect(parseEvent("not json")).toBeUndefined();
    expect(parseEvent("null")).toBeUndefined();
  });
});
