import { describe, expect, it } from "vitest";
import type { RrwebEvent } from "../lib/ndjson";
import { ReplayFeeder } from "./feeder";

const ev = (type: number, t: number): RrwebEvent => ({ type, data: {}, timestamp: t });

class FakePlayer {
  added: number[] = [];
  constructor(readonly initial: RrwebEvent[]) {}
  addEvent(e: RrwebEvent) {
    this.added.push(e.timestamp);
  }
}

describe("ReplayFeeder", () => {
  it("waits for a full snapshot, then starts once with the sorted events and appends the rest", () => {
    const made: FakePlayer[] = [];
    const f = new ReplayFeeder((initial) => {
      const p = new FakePlayer(initial);
      made.push(p);
      return p;
    });
    f.push([ev(4, 1000), ev(3, 1200)]);
    expect(f.player).toBeUndefined();
    f.push([ev(3, 1300), ev(2, 1001)]);
    expect(made).toHaveLength(1);
    expect(made[0]!.initial.map((e) => e.timestamp)).toEqual([1000, 1001, 1200, 1300]);
    f.push([ev(3, 1400), ev(3, 1500)]);
    f.push([ev(5, 1600)]);
    expect(made).toHaveLength(1);
    expect(made[0]!.added).toEqual([1400, 1500, 1600]);
    expect(f.loadedMs).toBe(600);
    expect(f.end()).toBe(true);
  });

  it("starts at the end of a stream without a full snapshot if there is something to show", () => {
    const f = new ReplayFeeder((initial) => new FakePlayer(initial));
    f.push([ev(4, 1), ev(3, 2)]);
    expect(f.player).toBeUndefined();
    expect(f.end()).toBe(true);
    expect(f.player?.initial).toHaveLength(2);
  });

  it("reports nothing to play for an empty or one-event stream", () => {
    const f = new ReplayFeeder((initial) => new FakePlayer(initial));
    expect(f.end()).toBe(false);
    f.push([ev(2, 5)]);
    expect(f.end()).toBe(false);
    expect(f.loadedMs).toBe(0);
  });
});
