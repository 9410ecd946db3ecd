import { describe, expect, it } from "vitest";
import { markWatched, watchedSet, type KV } from "./watched";

function memory(): KV & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
}

describe("watched recordings", () => {
  it("remembers per site, without duplicates", () => {
    const kv = memory();
    markWatched("9000000001", "s_a", kv);
    markWatched("9000000001", "s_b", kv);
    markWatched("9000000001", "s_a", kv);
    markWatched("9000000002", "s_c", kv);
    expect([...watchedSet("9000000001", kv)]).toEqual(["s_b", "s_a"]);
    expect([...watchedSet("9000000002", kv)]).toEqual(["s_c"]);
  });
  it("keeps the newest 2000", () => {
    const kv = memory();
    for (let i = 0; i < 2005; i++) markWatched("1", `s_${i}`, kv);
    const set = watchedSet("1", kv);
    expect(set.size).toBe(2000);
    expect(set.has("s_4")).toBe(false);
    expect(set.has("s_2004")).toBe(true);
  });
  it("survives junk in storage", () => {
    const kv = memory();
    kv.setItem("sightline.watched.1", "{not json");
    expect(watchedSet("1", kv).size).toBe(0);
    kv.setItem("sightline.watched.1", JSON.stringify(["ok", 3, null]));
    expect([...watchedSet("1", kv)]).toEqual(["ok"]);
  });
});
