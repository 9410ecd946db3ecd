import { afterEach, describe, expect, it, vi } from "vitest";
import { MediaReplay, mediaStates, nextState, sampledState, timeAt } from "./media";

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

// FakeVideo is the part of a <video> MediaReplay touches; it counts seeks and presents frames on demand.
class FakeVideo {
  isConnected = true;
  paused = false;
  seeking = false;
  readyState = 4;
  duration = 20;
  loop = true;
  seeks: number[] = [];
  private t = 0;
  private callbacks: ((now: number, meta: { mediaTime: number }) => void)[] = [];
  get currentTime() {
    return this.t;
  }
  set currentTime(v: number) {
    this.t = v;
    this.seeks.push(v);
  }
  pause() {
    this.paused = true;
  }
  play() {
    this.paused = false;
    return Promise.resolve();
  }
  requestVideoFrameCallback(cb: (now: number, meta: { mediaTime: number }) => void) {
    this.callbacks.push(cb);
    return this.callbacks.length;
  }
  present(mediaTime: number) {
    const cbs = this.callbacks;
    this.callbacks = [];
    for (const cb of cbs) cb(0, { mediaTime });
  }
}

describe("MediaReplay", () => {
  afterEach(() => vi.useRealTimers());

  // pausedReplay answers a replay paused with video 5 recorded paused at 7 s, its sync done, and its pause handler.
  function pausedReplay() {
    vi.useFakeTimers();
    const el = new FakeVideo();
    const handlers = new Map<string, () => void>();
    const r = {
      getMirror: () => ({ getNode: (id: number) => (id === 5 ? (el as unknown as Node) : null) }),
      service: { state: { matches: (s: string) => s === "paused" } },
      getCurrentTime: () => 6000,
      getMetaData: () => ({ startTime: 1000 }),
      on: (ev: string, h: () => void) => handlers.set(ev, h),
    };
    const m = new MediaReplay();
    m.attach(r);
    m.handler({ type: 2, timestamp: 1000, data: { node: { id: 1, childNodes: [{ id: 5, tagName: "video", attributes: { rr_mediaState: "paused", rr_mediaCurrentTime: 7 } }] } } });
    handlers.get("pause")!();
    expect(el.seeks).toEqual([7]);
    expect(el.paused).toBe(true);
    return { el, m, pause: handlers.get("pause")! };
  }

  it("seeks a paused video again until it presents the frame at its time", () => {
    const { el, m } = pausedReplay();
    el.present(2); // an old frame, though currentTime says 7
    vi.advanceTimersByTime(300);
    expect(el.seeks).toEqual([7, 7]);
    el.present(7);
    vi.advanceTimersByTime(1000);
    expect(el.seeks).toEqual([7, 7]);
    m.destroy();
  });

  it("leaves a seeking video to its seek, and gives up after a few tries", () => {
    const { el, m } = pausedReplay();
    el.seeking = true;
    vi.advanceTimersByTime(300);
    expect(el.seeks).toEqual([7]);
    el.seeking = false; // no frame ever presented
    vi.advanceTimersByTime(5000);
    expect(el.seeks).toEqual([7, 7, 7]);
    m.destroy();
  });

  it("watches a video afresh after it left the replay and came back", () => {
    const { el, m, pause } = pausedReplay();
    el.isConnected = false;
    el.present(2); // presented while out of the replay: forgotten, its watch ends
    el.isConnected = true;
    pause();
    vi.advanceTimersByTime(300);
    expect(el.seeks).toEqual([7, 7]); // no frame seen since it came back
    el.present(7);
    vi.advanceTimersByTime(5000);
    expect(el.seeks).toEqual([7, 7]); // the new watch saw it present its frame
    m.destroy();
  });

  it("does not seek a video that presented its frame", () => {
    const { el, m } = pausedReplay();
    el.present(7.02);
    vi.advanceTimersByTime(5000);
    expect(el.seeks).toEqual([7]);
    m.destroy();
  });
});
