import { describe, expect, it } from "vitest";
import { heatColor, percent, reachedByTen, scrollGradient } from "./scroll";

describe("scroll map", () => {
  const reached = Array.from({ length: 101 }, (_, d) => 1 - d / 100);

  it("colours from red (all) to blue (none)", () => {
    expect(heatColor(1)).toBe("hsla(0, 90%, 50%, 0.5)");
    expect(heatColor(0)).toBe("hsla(240, 90%, 50%, 0.5)");
    expect(heatColor(7)).toBe(heatColor(1));
  });

  it("has one stop per percent of the page", () => {
    const g = scrollGradient(reached);
    expect(g.startsWith("linear-gradient(to bottom, hsla(0, 90%, 50%, 0.5) 0%")).toBe(true);
    expect(g.endsWith("hsla(240, 90%, 50%, 0.5) 100%)")).toBe(true);
    expect(g.match(/\) \d+%/g)?.length).toBe(101);
  });

  it("tabulates every 10 %, reading missing or bad values as 0", () => {
    expect(reachedByTen(reached).map((r) => [r.depth, percent(r.share)])).toEqual([
      [0, "100 %"], [10, "90 %"], [20, "80 %"], [30, "70 %"], [40, "60 %"], [50, "50 %"],
      [60, "40 %"], [70, "30 %"], [80, "20 %"], [90, "10 %"], [100, "0 %"],
    ]);
    expect(reachedByTen([1, Number.NaN]).at(-1)).toEqual({ depth: 100, share: 0 });
  });
});
