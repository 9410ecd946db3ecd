import { describe, expect, it } from "vitest";
import { mediaStates, nextState, sampledState, timeAt } from "./media";

describe("media states", () => {
  it("reads videos from a full snapshot", () => {
    const s = mediaStates({
      type: 2,
      timestamp: 1000,
      data: { node: { id: 1, childNodes: [
        { id: 5, tagName: "video", attributes: { rr_mediaState: "played", rr_mediaCurrentTime: 0.5 } },
        { id: 6, tagName: "video", attributes: { autoplay: "" } },
        { id: 7, tagName: "audio", attributes: { rr_mediaState: "paused", rr_mediaCurrentTime: "x" } },
      ] } },
    });
    expect([...s]).toEqual([
      [7, { currentTime: 0, playing: false, at: 1000 }],
      [6, { currentTime: 0, playing: true, at: 1000 }],
      [5, { currentTime: 0.5, playing: true, at: 1000 }],
    ]);
  });

  it("follows play and pause, and extrapolates while playing", () => {
    const playing = { currentTime: 1, playing: true, at: 1000 };
    expect(nextState(playing, { type: 3, timestamp: 3000, data: { source: 7, id: 5, type: 1, currentTime: 3 } })).toEqual({ currentTime: 3, playing: false, at: 3000 });
    // No time in the event: where it would be by then.
    expect(nextState(playing, { type: 3, timestamp: 3000, data: { source: 7, id: 5, type: 3 } })).toEqual({ currentTime: 3, playing: true, at: 3000 });
    expect(nextState(playing, { type: 3, timestamp: 3000, data: { source: 2 } })).toBeUndefined();
    expect(timeAt(playing, 4500, 8, true)).toBe(4.5);
    expect(timeAt(playing, 10_000, 8, true)).toBe(2);
    expect(timeAt(playing, 10_000, 8, false)).toBe(8);
    expect(timeAt({ ...playing, playing: false }, 10_000, 8, true)).toBe(1);
    expect(timeAt(playing, 500, NaN, false)).toBe(1); // before the state: not earlier than it
  });

  it("takes the tracker's samples of a silently stopped or resumed element", () => {
    const ev = (payload: unknown) => ({ type: 5, timestamp: 4000, data: { tag: "sl:media", payload } });
    expect(sampledState(ev({ id: 5, t: 1.25, playing: false }))).toEqual({ id: 5, state: { currentTime: 1.25, playing: false, at: 4000 } });
    expect(sampledState(ev({ id: 5, t: 2, playing: true }))?.state.playing).toBe(true);
    for (const bad of [{ id: 0, t: 1 }, { id: 5, t: -1 }, { id: "x", t: 1 }, { id: 5 }, null]) expect(sampledState(ev(bad))).toBeUndefined();
    expect(sampledState({ type: 5, timestamp: 1, data: { tag: "sl:focus", payload: { id: 5, t: 1 } } })).toBeUndefined();
  });
});
