import { describe, expect, it } from "vitest";
import { neighbours } from "./neighbours";

describe("neighbours", () => {
  it("finds neighbours at the ends and in the middle", () => {
    expect(neighbours(["a", "b", "c"], "a")).toEqual({ index: 0, prev: undefined, next: "b" });
    expect(neighbours(["a", "b", "c"], "b")).toEqual({ index: 1, prev: "a", next: "c" });
    expect(neighbours(["a", "b", "c"], "c")).toEqual({ index: 2, prev: "b", next: undefined });
    expect(neighbours(["a"], "z")).toEqual({ index: -1 });
  });
});
