import { describe, expect, it } from "vitest";
import type { RrwebEvent } from "./ndjson";
import { extractMarkers, rageBursts } from "./timeline";

const T0 = 1_763_890_000_000;
const meta = (t: number, href: string): RrwebEvent => ({ type: 4, data: { href, width: 1280, height: 720 }, timestamp: T0 + t });
const full = (t: number): RrwebEvent => ({ type: 2, data: { node: {}, initialOffset: { top: 0, left: 0 } }, timestamp: T0 + t });
const click = (t: number, x = 100, y = 100): RrwebEvent => ({
  type: 3,
  data: { source: 2, type: 2, id: 7, x, y },
  timestamp: T0 + t,
});
const mutation = (t: number): RrwebEvent => ({
  type: 3,
  data: { source: 0, texts: [], attributes: [], removes: [], adds: [] },
  timestamp: T0 + t,
});
const move = (t: number): RrwebEvent => ({ type: 3, data: { source: 1, positions: [] }, timestamp: T0 + t });
const custom = (t: number, tag: string, payload: unknown): RrwebEvent => ({ type: 5, data: { tag, payload }, timestamp: T0 + t });

describe("rage clicks", () => {
  it("needs three clicks within a second and ~30 px", () => {
    const c = (t: number, x = 0, y = 0) => ({ time: t, x, y });
    expect(rageBursts([c(0), c(300), c(600)])).toHaveLength(1);
    expect(rageBursts([c(0), c(300)])).toHaveLength(0);
    expect(rageBursts([c(0), c(600), c(1200)])).toHaveLength(0); // too slow
    expect(rageBursts([c(0), c(100, 50, 0), c(200, 100, 0)])).toHaveLength(0); // too far apart
    // A longer burst is one burst; a later one is another.
    const bursts = rageBursts([c(0), c(100), c(200), c(300), c(5000), c(5100, 5, 5), c(5200)]);
    expect(bursts.map((b) => b.length)).toEqual([4, 3]);
  });
});

describe("extractMarkers", () => {
  it("finds pages, clicks, rage clicks, errors and custom events in order", () => {
    const events: RrwebEvent[] = [
      meta(0, "https://shop.example.com/"),
      full(1),
      click(1000, 10, 10),
      mutation(1200),
      // a rage click: four clicks in 600 ms on one spot
      click(3000, 200, 300),
      click(3200, 202, 301),
      click(3400, 199, 298),
      click(3600, 200, 300),
      mutation(3700),
      custom(4000, "sl:error", { message: "TypeError: x is undefined", source: "exception" }),
      custom(4500, "sl:event", { name: "add_to_cart", properties: { sku: "A1" } }),
      custom(5000, "sl:navigation", { url: "https://shop.example.com/cart?step=1", referrer: "" }),
      mutation(5001),
      // the same URL again is not a new page
      meta(6000, "https://shop.example.com/cart?step=1"),
      full(6001),
      meta(9000, "https://shop.example.com/checkout"),
      full(9001),
    ];
    const markers = extractMarkers(events);
    expect(markers.map((m) => [m.kind, m.offset, m.label])).toEqual([
      ["page", 0, "/"],
      ["click", 1000, "click"],
      ["rage", 3000, "4 clicks in a row"],
      ["error", 4000, "TypeError: x is undefined"],
      ["custom", 4500, "add_to_cart"],
      ["page", 5000, "/cart?step=1"],
      ["page", 9000, "/checkout"],
    ]);
    expect(markers.find((m) => m.kind === "rage")?.count).toBe(4);
    expect(markers.find((m) => m.kind === "error")?.detail).toBe("exception");
  });

  it("calls a click with no reaction within 1.5 s dead", () => {
    const events = [meta(0, "https://a.example/"), full(1), click(1000), move(2000), move(4000), click(5000), mutation(5400), move(9000)];
    const kinds = extractMarkers(events).map((m) => [m.kind, m.offset]);
    expect(kinds).toEqual([
      ["page", 0],
      ["dead", 1000],
      ["click", 5000],
    ]);
  });

  it("does not call a click dead before the stream has passed its window", () => {
    const events = [meta(0, "https://a.example/"), full(1), click(1000), move(1800)];
    expect(extractMarkers(events, { complete: false }).map((m) => m.kind)).toEqual(["page", "click"]);
    expect(extractMarkers(events, { complete: true }).map((m) => m.kind)).toEqual(["page", "dead"]);
  });

  it("tells a reload (new page view, same URL) from a re-snapshot", () => {
    const events = [
      meta(0, "https://a.example/form"),
      full(1),
      // rrweb's periodic checkout: same page view, same URL
      meta(5000, "https://a.example/form"),
      full(5001),
      // the visitor reloads: new page view, same URL
      meta(9000, "https://a.example/form"),
      full(9001),
    ];
    const pageViews = [
      { id: "p_one", time: T0 },
      { id: "p_one", time: T0 + 5000 },
      { id: "p_two", time: T0 + 9000 },
    ];
    expect(extractMarkers(events, { complete: true, pageViews }).map((m) => [m.kind, m.offset])).toEqual([
      ["page", 0],
      ["page", 9000],
    ]);
    // Without page views only URL changes count.
    expect(extractMarkers(events).map((m) => [m.kind, m.offset])).toEqual([["page", 0]]);
  });

  it("sorts events that arrive out of order and measures offsets from the first", () => {
    const events = [custom(2000, "sl:event", { name: "b" }), meta(0, "https://a.example/x"), custom(1000, "sl:event", { name: "a" })];
    expect(extractMarkers(events).map((m) => [m.label, m.offset])).toEqual([
      ["/x", 0],
      ["a", 1000],
      ["b", 2000],
    ]);
  });

  it("survives malformed payloads", () => {
    const events: RrwebEvent[] = [
      { type: 5, data: null, timestamp: T0 },
      { type: 5, data: { tag: "sl:error" }, timestamp: T0 + 1 },
      { type: 5, data: { tag: "sl:event", payload: { name: 42 } }, timestamp: T0 + 2 },
      { type: 3, data: { source: 2, type: 2 }, timestamp: T0 + 3 },
      { type: 4, data: {}, timestamp: T0 + 4 },
    ];
    expect(extractMarkers(events).map((m) => [m.kind, m.label])).toEqual([
      ["error", "Error"],
      ["custom", "event"],
      // the Meta event right after it counts as the page reacting
      ["click", "click"],
    ]);
    expect(extractMarkers([])).toEqual([]);
  });
});
