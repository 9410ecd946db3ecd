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

  it("picks the snapshot nearest the given time and stops before the next page", () => {
    const w = snapshotWindow([...page1, ...page2], 20_050, 60_000)!;
    expect(w.events.map((e) => e.timestamp)).toEqual([20_000, 20_001, 20_100]);
    const first = snapshotWindow([...page1, ...page2], 500, 60_000)!;
    expect(first.events.at(-1)!.timestamp).toBe(9000);
  });

  it("does without a Meta, and answers undefined without a snapshot", () => {
    expect(snapshotWindow([ev(3, 5), ev(2, 10), ev(3, 11)], undefined)!.events.map((e) => e.type)).toEqual([2, 3]);
    expect(snapshotWindow([ev(4, 1), ev(3, 2)], undefined)).toBeUndefined();
  });
});
