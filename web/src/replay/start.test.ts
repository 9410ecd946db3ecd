import { describe, expect, it } from "vitest";
import { startOffset } from "./start";

describe("startOffset", () => {
  it("reads ?t= seconds", () => {
    expect(startOffset("65", NaN, undefined, false)).toBe(65_000);
    expect(startOffset(null, NaN, undefined, false)).toBe(0);
    expect(startOffset("-3", NaN, undefined, false)).toBe(0);
    expect(startOffset("x", NaN, undefined, false)).toBe(0);
  });
  it("turns ?at= into an offset from the session's start, waiting for it", () => {
    const at = Date.parse("2026-11-30T10:01:05.900Z");
    expect(startOffset(null, at, undefined, false)).toBeUndefined();
    expect(startOffset(null, at, "2026-11-30T10:00:00Z", false)).toBe(65_900);
    expect(startOffset("9", at, "2026-11-30T10:02:00Z", false)).toBe(0); // before the start: the start
    expect(startOffset(null, at, undefined, true)).toBe(0); // no session: from the start
  });
});
