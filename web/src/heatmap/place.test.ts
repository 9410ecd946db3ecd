import { describe, expect, it } from "vitest";
import { heatMax, nearestPoint, placeClicks, placeMoves, type Box } from "./place";

const boxes: Record<string, Box> = {
  "#buy": { left: 100, top: 200, width: 80, height: 40 },
  "#gone": { left: 0, top: 0, width: 0, height: 0 },
};
const locate = (s: string) => boxes[s] ?? null;
const triples = (p: { xyw: Float32Array; n: number }) => Array.from({ length: p.n }, (_, i) => Array.from(p.xyw.slice(i * 3, i * 3 + 3)));

describe("placeClicks", () => {
  it("puts a click at its place in its element's box", async () => {
    const p = await placeClicks([{ selector: "#buy", rx: 25, ry: 50, count: "3" }], locate, 1000);
    expect(triples(p)).toEqual([[120, 220, 3]]);
    expect(p.selectors).toEqual(["#buy"]);
    expect(p.unplaced).toBe(0);
  });

  it("falls back to the document position, else counts the click as not placed", async () => {
    const p = await placeClicks(
      [
        { selector: "#missing", rx: 10, ry: 10, count: "2", positioned: true, x: 500, y: 90 },
        { selector: "#gone", count: "4", positioned: false },
        { selector: "", count: "1", positioned: true, x: 1000, y: 5 },
        { selector: "#missing", count: "7" },
      ],
      locate,
      1280,
    );
    expect(triples(p)).toEqual([
      [640, 90, 2],
      [1280, 5, 1],
    ]);
    expect(p.selectors).toEqual(["", ""]);
    expect(p.fallback).toBe(3);
    expect(p.unplaced).toBe(11);
  });

  it("survives hostile cells: bad counts, out-of-range offsets, selectors that throw", async () => {
    const p = await placeClicks(
      [
        { selector: "#buy", rx: 500, ry: -20, count: "2" },
        { selector: "#buy", count: "-1" },
        { selector: "#buy", count: "NaN" },
        { selector: "[[", count: "1" },
      ],
      (s) => {
        if (s === "[[") throw new SyntaxError("bad selector");
        return locate(s);
      },
      100,
    );
    expect(triples(p)).toEqual([[180, 200, 2]]);
    expect(p.unplaced).toBe(1);
  });

  it("looks each selector up once and yields every slice", async () => {
    let asked = 0;
    let pauses = 0;
    const cells = Array.from({ length: 10 }, (_, i) => ({ selector: "#buy", rx: i * 10, ry: 0, count: "1" }));
    const p = await placeClicks(cells, (s) => (asked++, locate(s)), 1000, { slice: 3, pause: async () => void pauses++ });
    expect(p.n).toBe(10);
    expect(asked).toBe(1);
    expect(pauses).toBe(3);
  });
});

describe("placeMoves", () => {
  it("scales x by the document width", () => {
    expect(triples(placeMoves([{ x: 250, y: 40, count: "5" }, { x: 10, y: 1, count: "0" }], 800))).toEqual([[200, 40, 5]]);
  });
});

describe("heatMax", () => {
  // n points each in its own 24 px cell, the last `hot` of weight 1000.
  const spread = (n: number, hot: number) => placeMoves(Array.from({ length: n }, (_, i) => ({ x: 0, y: i * 100, count: String(i < n - hot ? 2 : 1000) })), 10);
  it("answers the 99th percentile of the weight per cell, so a few very hot spots do not pale the rest", () => {
    expect(heatMax(spread(1000, 5))).toBe(2);
    expect(heatMax(spread(1000, 20))).toBe(1000);
    expect(heatMax(spread(200, 2))).toBe(1000);
  });
  it("adds up points that overlap", () => {
    const dense = placeMoves(Array.from({ length: 500 }, () => ({ x: 500, y: 40, count: "3" })), 1000);
    expect(heatMax(dense)).toBe(1500);
  });
  it("is at least 1", () => {
    expect(heatMax(placeMoves([], 10))).toBe(1);
  });
});

describe("nearestPoint", () => {
  const pts = { xyw: new Float32Array([100, 100, 1, 110, 100, 5, 500, 500, 2]), n: 3 };
  it("finds the drawn spot under a click, and nothing where none is drawn", () => {
    expect(nearestPoint(pts, 101, 100, 20)).toBe(0);
    expect(nearestPoint(pts, 108, 101, 20)).toBe(1);
    expect(nearestPoint(pts, 495, 505, 20)).toBe(2);
    expect(nearestPoint(pts, 300, 300, 20)).toBe(-1);
    expect(nearestPoint(pts, 128, 100, 20)).toBe(1);
    expect(nearestPoint(pts, 130, 100, 20)).toBe(-1);
    expect(nearestPoint({ xyw: new Float32Array(), n: 0 }, 0, 0, 20)).toBe(-1);
  });
});
