import { describe, expect, it } from "vitest";
import { listKey, loadList, neighbours, saveList } from "./listStore";

describe("list store", () => {
  it("finds neighbours at the ends and in the middle", () => {
    expect(neighbours(["a", "b", "c"], "a")).toEqual({ index: 0, prev: undefined, next: "b" });
    expect(neighbours(["a", "b", "c"], "b")).toEqual({ index: 1, prev: "a", next: "c" });
    expect(neighbours(["a", "b", "c"], "c")).toEqual({ index: 2, prev: "b", next: undefined });
    expect(neighbours(["a"], "z")).toEqual({ index: -1 });
  });
  it("returns a saved list only for the same site and filter", () => {
    const key = listKey("9000000001", "device=mobile");
    const ids = ["s1", "s2"];
    saveList({ key, ids, total: 2, nextPageToken: "t" });
    ids.push("mutated");
    expect(loadList(key)?.ids).toEqual(["s1", "s2"]);
    expect(loadList(listKey("9000000001", "device=desktop"))).toBeUndefined();
    expect(loadList(listKey("9000000002", "device=mobile"))).toBeUndefined();
  });
});
