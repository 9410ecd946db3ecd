import { describe, expect, it } from "vitest";
import { seen, settled } from "./verify";

const now = Date.parse("2026-11-30T12:00:00Z");
const recent = "2026-11-30T11:59:50Z";
const old = "2026-11-30T11:00:00Z";

describe("seen", () => {
  it("says a recording arrived when a batch is fresh, hits or not", () => {
    const s = seen({ lastChunkTime: recent, sessionsLast24h: "1" }, { pageViews: "3" }, { recordingEnabled: true, sampleRate: 1 }, now);
    expect(s).toEqual({ kind: "recording", lastChunkTime: recent, sessions24h: 1 });
    expect(settled(s)).toBe(true);
  });
  it("counts page views of a site that records nothing as verified", () => {
    const off = seen({ lastChunkTime: old }, { pageViews: "2" }, { recordingEnabled: false, sampleRate: 1 }, now);
    expect(off).toEqual({ kind: "hits", pageViews: 2, why: "off" });
    expect(settled(off)).toBe(true);
    const zero = seen(undefined, { pageViews: "1" }, { recordingEnabled: true, sampleRate: 0 }, now);
    expect(zero).toEqual({ kind: "hits", pageViews: 1, why: "unsampled" });
    expect(settled(zero)).toBe(true);
  });
  it("keeps watching for a recording when the site records but only page views came", () => {
    const s = seen({}, { pageViews: "1" }, { recordingEnabled: true, sampleRate: 0.5 }, now);
    expect(s).toEqual({ kind: "hits", pageViews: 1, why: "unknown" });
    expect(settled(s)).toBe(false);
  });
  it("sees nothing in a stale batch and no page views", () => {
    expect(seen({ lastChunkTime: old }, { pageViews: "0" }, undefined, now)).toEqual({ kind: "none" });
    expect(seen({ lastChunkTime: "garbage" }, undefined, undefined, now)).toEqual({ kind: "none" });
  });
});
