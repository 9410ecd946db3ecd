import { describe, it, expect } from 'vitest';
import { MediaWatch, type MediaLike as Fake } from '../src/media';

const video = (over: Partial<Fake> = {}): Fake => ({ currentTime: 0, paused: false, ended: false, loop: false, duration: 10, playbackRate: 1, ...over });

describe('MediaWatch', () => {
  const ids = new Map<Fake, number>();
  const getId = (el: Fake) => ids.get(el) ?? -1;

  it('reports each element once, then only where it leaves the implied time', () => {
    const w = new MediaWatch();
    const v = video();
    ids.set(v, 7);
    expect(w.check(1000, [v], getId)).toEqual([{ id: 7, t: 0, playing: true }]);
    // Plays on as implied: nothing to say.
    v.currentTime = 0.25;
    expect(w.check(1250, [v], getId)).toEqual([]);
    v.currentTime = 1.0;
    expect(w.check(2000, [v], getId)).toEqual([]);
    // The browser stops it silently (off screen): time stands still, not paused.
    expect(w.check(2250, [v], getId)).toEqual([{ id: 7, t: 1, playing: false }]);
    expect(w.check(2500, [v], getId)).toEqual([]);
    expect(w.check(5000, [v], getId)).toEqual([]);
    // It moves again: one report, then quiet.
    v.currentTime = 1.2;
    expect(w.check(5250, [v], getId)).toEqual([{ id: 7, t: 1.2, playing: true }]);
    v.currentTime = 1.45;
    expect(w.check(5500, [v], getId)).toEqual([]);
    // A seek the replay could not infer.
    v.currentTime = 8;
    expect(w.check(5750, [v], getId)).toEqual([{ id: 7, t: 8, playing: true }]);
  });

  it('follows a looping element around the loop without reports', () => {
    const w = new MediaWatch();
    const v = video({ loop: true, duration: 2, currentTime: 1.9 });
    ids.set(v, 8);
    expect(w.check(0, [v], getId)).toHaveLength(1);
    v.currentTime = 0.15; // 1.9 + 0.25 wrapped
    expect(w.check(250, [v], getId)).toEqual([]);
  });

  it('reports pause, skips unrecorded nodes, and starts over after reset', () => {
    const w = new MediaWatch();
    const v = video({ currentTime: 3 });
    const stray = video();
    ids.set(v, 9);
    expect(w.check(0, [stray, v], getId)).toEqual([{ id: 9, t: 3, playing: true }]);
    v.paused = true;
    v.currentTime = 3.1;
    expect(w.check(250, [v], getId)).toEqual([{ id: 9, t: 3.1, playing: false }]);
    expect(w.check(500, [v], getId)).toEqual([]);
    w.reset();
    expect(w.check(750, [v], getId)).toEqual([{ id: 9, t: 3.1, playing: false }]);
    v.currentTime = NaN;
    expect(w.check(1000, [v], getId)).toEqual([]);
  });
});
