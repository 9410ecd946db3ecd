import { describe, expect, it } from "vitest";
import { DEFAULT_CHECK_PATH, DEFAULT_MESSAGE, MAX_BACKOFF_MS, OutageMonitor, retryDelayMs, type CheckResult, type Outage } from "./outage";

/** A monitor on a hand-driven clock: run() fires the pending timer. */
function harness(answers: CheckResult[]) {
  let now = 1_000_000;
  let pending: { fn: () => void; at: number } | undefined;
  const states: (Outage | undefined)[] = [];
  const checked: string[] = [];
  let recovered = 0;
  const m = new OutageMonitor({
    check: async (path) => {
      checked.push(path);
      const a = answers.shift();
      if (!a) throw new Error("no answer scripted");
      return a;
    },
    onChange: (o) => states.push(o),
    onRecovered: () => recovered++,
    now: () => now,
    setTimer: (fn, ms) => (pending = { fn, at: now + ms }),
    clearTimer: () => (pending = undefined),
    random: () => 0,
  });
  return {
    m,
    states,
    checked,
    recovered: () => recovered,
    /** delay of the pending timer */
    delay: () => (pending ? pending.at - now : undefined),
    /** fires the pending timer and lets the check settle */
    async run() {
      const p = pending;
      if (!p) throw new Error("no check scheduled");
      now = p.at;
      pending = undefined;
      p.fn();
      await new Promise((r) => setTimeout(r, 0));
    },
  };
}

describe("retryDelayMs", () => {
  it("doubles from 1 s up to the cap, never under Retry-After", () => {
    const none = () => 0;
    expect([1, 2, 3, 4, 5, 9].map((a) => retryDelayMs(a, undefined, none))).toEqual([1000, 2000, 4000, 5000, 5000, 5000]);
    expect([1, 2, 3, 4, 5].map((a) => retryDelayMs(a, 3, none))).toEqual([3000, 3000, 4000, 5000, 5000]);
    // The server knows best: a long Retry-After is honoured over the cap.
    expect(retryDelayMs(1, 60, none)).toBe(60_000);
    // Jitter adds at most 20%.
    expect(retryDelayMs(4, undefined, () => 0.999)).toBeLessThanOrEqual(MAX_BACKOFF_MS * 1.2);
    expect(retryDelayMs(4, undefined, () => 0.5)).toBe(5500);
  });
});

describe("OutageMonitor", () => {
  it("starts on the first report, checks the failed GET again with backoff, and recovers once", async () => {
    const h = harness([{ up: false, retryAfterSeconds: 5 }, { up: false, message: "the search index is unreachable" }, { up: false }, { up: true }]);
    h.m.report({ message: "the accounts database is unreachable; recordings are still being collected", retryAfterSeconds: 5, path: "/api/v1/organizations/1/sites" });
    expect(h.m.current).toMatchObject({ message: "the accounts database is unreachable; recordings are still being collected", attempt: 1 });
    expect(h.delay()).toBe(5000);
    expect(h.m.current?.nextCheckAt).toBe(1_000_000 + 5000);

    await h.run();
    expect(h.checked).toEqual(["/api/v1/organizations/1/sites"]);
    expect(h.m.current?.attempt).toBe(2);
    expect(h.delay()).toBe(5000); // 2 s backoff, but Retry-After says 5

    await h.run();
    // A check's own message replaces the first one.
    expect(h.m.current).toMatchObject({ message: "the search index is unreachable", attempt: 3 });
    expect(h.delay()).toBe(4000);

    await h.run();
    expect(h.delay()).toBe(5000);
    expect(h.recovered()).toBe(0);

    await h.run();
    expect(h.m.current).toBeUndefined();
    expect(h.recovered()).toBe(1);
    expect(h.delay()).toBeUndefined();
    expect(h.states.at(-1)).toBeUndefined();
    // While a check was in flight the banner had no countdown.
    expect(h.states.some((s) => s && s.nextCheckAt === undefined)).toBe(true);
  });

  it("more failures during an outage update the message but do not pile up checks or reset the backoff", async () => {
    const h = harness([{ up: false }, { up: true }]);
    h.m.report({ message: "a" });
    expect(h.delay()).toBe(1000);
    h.m.report({ message: "b", retryAfterSeconds: 30 });
    h.m.report({ message: "b" });
    expect(h.delay()).toBe(1000);
    expect(h.m.current).toMatchObject({ message: "b", attempt: 1 });
    await h.run();
    // No GET failed: the check asks who the user is.
    expect(h.checked).toEqual([DEFAULT_CHECK_PATH]);
    expect(h.m.current?.attempt).toBe(2);
    await h.run();
    expect(h.m.current).toBeUndefined();
    expect(h.checked).toHaveLength(2);
  });

  it("a check that throws (network error) counts as still down", async () => {
    const h = harness([]);
    h.m.report({ message: "Sightline can't be reached from this browser" });
    await h.run();
    expect(h.m.current?.attempt).toBe(2);
    expect(h.delay()).toBe(2000);
  });

  it("checkNow runs the check at once and cancels the pending one", async () => {
    const h = harness([{ up: true }]);
    h.m.checkNow(); // nothing to check
    expect(h.checked).toEqual([]);
    h.m.report({ message: "down", retryAfterSeconds: 60 });
    expect(h.delay()).toBe(60_000);
    h.m.checkNow();
    await new Promise((r) => setTimeout(r, 0));
    expect(h.checked).toHaveLength(1);
    expect(h.m.current).toBeUndefined();
    expect(h.delay()).toBeUndefined();
    expect(h.recovered()).toBe(1);
  });

  it("a new outage after a recovery starts again from the first attempt", async () => {
    const h = harness([{ up: true }]);
    h.m.report({ message: "x", path: "/api/v1/sites/1" });
    await h.run();
    expect(h.m.current).toBeUndefined();
    h.m.report({ message: "y" });
    expect(h.m.current).toMatchObject({ message: "y", attempt: 1 });
    expect(h.delay()).toBe(1000);
  });

  it("a report without a message (a stale copy) keeps the server's message, or starts with a generic one", () => {
    const h = harness([]);
    h.m.report({ message: "" });
    expect(h.m.current?.message).toBe(DEFAULT_MESSAGE);
    h.m.report({ message: "the accounts database is unreachable" });
    h.m.report({ message: "" });
    expect(h.m.current?.message).toBe("the accounts database is unreachable");
  });
});
