import { describe, expect, it } from "vitest";
import { layerScale, MAX_LAYER_PIXELS, MAX_LAYER_SIDE } from "./draw";

describe("layerScale", () => {
  it("draws an ordinary page at full resolution", () => {
    expect(layerScale(1280, 3000)).toBe(1);
  });
  it("keeps a long page's layer within the pixel and side limits", () => {
    for (const [w, h] of [
      [1280, 40_000],
      [390, 200_000],
      [20_000, 300],
    ] as const) {
      const s = layerScale(w, h);
      expect(s).toBeLessThan(1);
      expect(w * s * h * s).toBeLessThanOrEqual(MAX_LAYER_PIXELS + 1);
      expect(Math.max(w, h) * s).toBeLessThanOrEqual(MAX_LAYER_SIDE);
    }
  });
  it("answers 1 for a size it cannot use", () => {
    expect(layerScale(0, 100)).toBe(1);
    expect(layerScale(Number.NaN, 100)).toBe(1);
  });
});
