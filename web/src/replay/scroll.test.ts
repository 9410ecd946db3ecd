import { describe, expect, it } from "vitest";
import { ScrollReplay, scrollOf } from "./scroll";

describe("scrollOf", () => {
  it("reads scroll events only", () => {
    expect(scrollOf({ type: 3, timestamp: 1, data: { source: 3, id: 1, x: 0, y: 600 } })).toEqual({ id: 1, x: 0, y: 600 });
    expect(scrollOf({ type: 3, timestamp: 1, data: { source: 2, id: 1, x: 0, y: 600 } })).toBeUndefined();
    expect(scrollOf({ type: 3, timestamp: 1, data: { source: 3, id: 1, x: 0, y: "600" } })).toBeUndefined();
  });
});

describe("ScrollReplay", () => {
  it("puts each node back at its last position, instantly, after every flush", () => {
    const calls: unknown[] = [];
    const win = { scrollTo: (o: unknown) => calls.push(["window", o]) };
    const doc = { nodeType: 9, defaultView: win };
    const el = { nodeType: 1, scrollTo: (o: unknown) => calls.push(["el", o]) };
    let flush = () => {};
    const replayer = { getMirror: () => ({ getNode: (id: number) => (id === 1 ? doc : id === 5 ? el : null) as never }), on: (_: string, h: () => void) => (flush = h) };
    const s = new ScrollReplay();
    s.attach(replayer);
    for (const [id, y] of [[1, 600], [5, 10], [1, 0], [9, 3]]) s.handler({ type: 3, timestamp: 1, data: { source: 3, id, x: 0, y } });
    flush();
    expect(calls).toEqual([
      ["window", { left: 0, top: 0, behavior: "instant" }],
      ["el", { left: 0, top: 10, behavior: "instant" }],
    ]);
    // A full snapshot starts a new document.
    s.handler({ type: 2, timestamp: 2, data: {} });
    calls.length = 0;
    flush();
    expect(calls).toEqual([]);
  });
});
