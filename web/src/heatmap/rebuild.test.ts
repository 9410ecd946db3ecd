import { describe, expect, it } from "vitest";
import type { RrwebEvent } from "../lib/ndjson";
import { snapshotWindow } from "./rebuild";

const ev = (type: number, timestamp: number, data: unknown = {}): RrwebEvent => ({ type, timestamp, data });

describe("snapshotWindow", () => {
  const page1 = [ev(4, 1000, { width: 1280 }), ev(2, 1001), ev(3, 1500), ev(3, 2400), ev(3, 9000)];
  const page2 = [ev(4, 20_000, { width: 390 }), ev(2, 20_001), ev(3, 20_100)];

  it("takes the Meta and the snapshot, and the events up to the settle time", () => {
    const w = snapshotWindow([...page2, ...page1], undefined, 1500)!;
    expect(w.events.map((e) => e.timestamp)).toEqual([1000, 1001, 1500, 2400]);
    expect(w.pauseAt).toBe(1400);
  });

  it("picks the last snapshot at or before the given time and stops before the next page", () => {
    const w = snapshotWindow([...page1, ...page2], 20_050, 60_000)!;
    expect(w.events.map((e) => e.timestamp)).toEqual([20_000, 20_001, 20_100]);
    const first = snapshotWindow([...page1, ...page2], 500, 60_000)!;
    expect(first.events.at(-1)!.timestamp).toBe(9000);
  });

  it("does without a Meta, and answers undefined without a snapshot", () => {
    expect(snapshotWindow([ev(3, 5), ev(2, 10), ev(3, 11)], undefined)!.events.map((e) => e.type)).toEqual([2, 3]);
    expect(snapshotWindow([ev(4, 1), ev(3, 2)], undefined)).toBeUndefined();
  });

  it("stops at the visitor's first interaction: the page as it loaded, not as they changed it", () => {
    const mutation = (t: number) => ev(3, t, { source: 0, adds: [] });
    const events = [ev(4, 1000), ev(2, 1001), mutation(1100), ev(3, 1200, { source: 2, type: 5 }), mutation(1300), ev(3, 1400, { source: 2, type: 1 }), mutation(1450), mutation(1500)];
    // A focus (autofocus) is not the visitor's; the mouse down at 1400 is.
    expect(snapshotWindow(events, undefined, 1500)!.events.map((e) => e.timestamp)).toEqual([1000, 1001, 1100, 1200, 1300]);
    for (const data of [{ source: 5, text: "a" }, { source: 2, type: 2 }, { source: 2, type: 7 }]) {
      expect(snapshotWindow([ev(2, 0), mutation(10), ev(3, 20, data), mutation(30)], undefined)!.events.map((e) => e.timestamp)).toEqual([0, 10]);
    }
    // Pointer moves and scrolls change nothing of the page.
    expect(snapshotWindow([ev(2, 0), ev(3, 5, { source: 1 }), ev(3, 6, { source: 3 }), mutation(10)], undefined)!.events).toHaveLength(4);
  });

  it("rebuilds a route of a single-page app: the snapshot before the change, replayed to it and its settle time", () => {
    const mutation = (t: number) => ev(3, t, { source: 0, adds: [] });
    const click = (t: number) => ev(3, t, { source: 2, type: 2 });
    const route = (t: number) => ev(5, t, { tag: "sl:navigation", payload: { url: "https://a.example/cart" } });
    // Loaded at 1000; the visitor clicks through to /cart at 60,000 (the
    // click that navigated and the route's rendering kept); clicks again at
    // 61,000; a checkout snapshot at 600,000.
    const events = [ev(4, 1000), ev(2, 1001), click(30_000), mutation(30_100), click(59_990), route(60_000), mutation(60_050), mutation(60_500), click(61_000), mutation(61_100), ev(4, 600_000), ev(2, 600_001)];
    const w = snapshotWindow(events, 60_000)!;
    expect(w.events.map((e) => e.timestamp)).toEqual([1000, 1001, 30_000, 30_100, 59_990, 60_000, 60_050, 60_500]);
    expect(w.pauseAt).toBe(59_500);
    // Without a visitor's click after the change: up to its settle time.
    const calm = snapshotWindow(events.filter((e) => e.timestamp !== 61_000), 60_000, 1500)!;
    expect(calm.events.at(-1)!.timestamp).toBe(61_100);
    // A time after the checkout takes the checkout, not the first load.
    expect(snapshotWindow(events, 600_500)!.events[0]!.timestamp).toBe(600_000);
    // A time that did not parse is no time: the first snapshot as it loaded.
    expect(snapshotWindow(events, NaN)).toEqual(snapshotWindow(events, undefined));
  });
});
