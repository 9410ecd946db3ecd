import { describe, expect, it } from "vitest";
import type { RrwebEvent } from "./ndjson";
import { extractMarkers, frustrationsFromApi, type ApiFrustration } from "./timeline";
// Real interactions recorded in Chromium through the tracker (see its README), and the list the
// server's fold makes of them (checked by the Go tests, which GetSession returns).
import recording from "../../../svc-recordings/summary/testdata/frustration.json";
import folded from "../../../svc-recordings/summary/testdata/frustration.want.json";

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
    const frustrations = frustrationsFromApi([{ kind: "FRUSTRATION_KIND_RAGE", time: new Date(T0 + 3000).toISOString(), nodeId: 7, clicks: 4 }]);
    const markers = extractMarkers(events, { frustrations });
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

  it("shows the server's dead clicks and does not judge clicks itself", () => {
    const events = [meta(0, "https://a.example/"), full(1), click(1000), move(2000), move(4000), click(5000), mutation(5400), move(9000)];
    // No list: every click is a plain click, whatever followed it.
    expect(extractMarkers(events).map((m) => [m.kind, m.offset])).toEqual([
      ["page", 0],
      ["click", 1000],
      ["click", 5000],
    ]);
    const dead = frustrationsFromApi([{ kind: "FRUSTRATION_KIND_DEAD", time: new Date(T0 + 1000).toISOString(), nodeId: 7, clicks: 1 }]);
    expect(extractMarkers(events, { frustrations: dead }).map((m) => [m.kind, m.offset])).toEqual([
      ["page", 0],
      ["dead", 1000],
      ["click", 5000],
    ]);
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
    expect(extractMarkers(events, { pageViews }).map((m) => [m.kind, m.offset])).toEqual([
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
      ["click", "click"],
    ]);
    expect(extractMarkers([])).toEqual([]);
  });
});

describe("frustrationsFromApi", () => {
  it("reads GetSession's list and drops what it cannot place", () => {
    const list: ApiFrustration[] = [
      { kind: "FRUSTRATION_KIND_RAGE", time: "2025-11-23T09:26:40.000Z", pageViewId: "p_1", nodeId: 5, clicks: 4 },
      { kind: "FRUSTRATION_KIND_DEAD", time: "2025-11-23T09:26:41.500Z" },
      { kind: "FRUSTRATION_KIND_UNSPECIFIED", time: "2025-11-23T09:26:42.000Z" },
      { kind: "FRUSTRATION_KIND_DEAD", time: "not a time" },
      {},
    ];
    expect(frustrationsFromApi(list)).toEqual([
      { kind: "rage", time: Date.parse("2025-11-23T09:26:40.000Z"), pageViewId: "p_1", nodeId: 5, clicks: 4 },
      { kind: "dead", time: Date.parse("2025-11-23T09:26:41.500Z"), pageViewId: "", nodeId: 0, clicks: 1 },
    ]);
    expect(frustrationsFromApi(undefined)).toEqual([]);
  });
});

describe("a recorded session", () => {
  const events: RrwebEvent[] = recording.flatMap((b) => b.events as RrwebEvent[]);
  const pageViews = recording.map((b) => ({ id: b.pageViewId, time: Math.min(...b.events.map((e) => e.timestamp)) }));
  const list = frustrationsFromApi(folded.frustrations as ApiFrustration[]);

  it("shows exactly the server's rage and dead clicks, each click once", () => {
    const markers = extractMarkers(events, { pageViews, frustrations: list });
    const of = (kind: string) => markers.filter((m) => m.kind === kind);
    // The same set as the list (and so as the summary's counts, which count the list).
    expect(of("dead").map((m) => m.time)).toEqual(list.filter((f) => f.kind === "dead").map((f) => f.time));
    expect(of("rage").map((m) => [m.time, m.count])).toEqual(list.filter((f) => f.kind === "rage").map((f) => [f.time, f.clicks]));
    expect(of("dead").length).toBeGreaterThan(0);
    expect(of("rage").length).toBeGreaterThan(0);
    // Every recorded click appears once: as a plain click, a dead click, or inside a burst.
    const clicks = events.filter((e) => e.type === 3 && e.data?.source === 2 && e.data?.type === 2).length;
    const inBursts = of("rage").reduce((n, m) => n + (m.count ?? 0), 0);
    expect(of("click").length + of("dead").length + inBursts).toBe(clicks);
    // Two page views: the link led to the second page.
    expect(of("page").map((m) => m.label)).toEqual(["/frustration.html", "/page2.html"]);
  });
});
