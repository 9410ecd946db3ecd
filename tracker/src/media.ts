// Media timing for the replay. rrweb records play, pause and seek events, but a browser also stops
// and resumes media without any event (Chromium pauses muted autoplay videos while they are off
// screen), so a replay that extrapolates from the last event shows the wrong frame. MediaWatch
// samples each <video>/<audio> and reports only where the element is not where the recording so
// far implies: one sl:media event when it stalls, one when it moves again.

export interface MediaSample {
  /** rrweb's mirror id of the element. */
  id: number;
  /** currentTime, seconds. */
  t: number;
  /** Whether its time is advancing. */
  playing: boolean;
}

interface Known {
  t: number;
  playing: boolean;
  at: number;
  rate: number;
  /** currentTime at the previous check, to see it advance. */
  last: number;
}

/** What MediaWatch reads of a media element (a test passes a plain object). */
export interface MediaLike {
  currentTime: number;
  paused: boolean;
  ended: boolean;
  loop: boolean;
  duration: number;
  playbackRate: number;
}

// How far (seconds) an element may be from the implied time before it is reported.
const DRIFT = 0.3;
// Most elements followed at once (the rest are not sampled).
const MAX_ELEMENTS = 32;

export class MediaWatch {
  private known = new Map<number, Known>();

  /** reset forgets what was reported (a new full snapshot carries each element's state). */
  reset(): void {
    this.known.clear();
  }

  /**
   * check looks at the elements at time now (ms) and answers the samples to send. getId is rrweb's
   * mirror lookup (-1 for a node it does not record).
   */
  check(now: number, els: ArrayLike<MediaLike>, getId: (el: MediaLike) => number): MediaSample[] {
    const out: MediaSample[] = [];
    const n = Math.min(els.length, MAX_ELEMENTS);
    for (let i = 0; i < n; i++) {
      const el = els[i];
      const id = getId(el);
      if (!(id > 0)) continue;
      const t = Number(el.currentTime);
      if (!isFinite(t)) continue;
      const k = this.known.get(id);
      const playing = !el.paused && !el.ended && (k ? t !== k.last : true);
      const rate = isFinite(el.playbackRate) && el.playbackRate > 0 ? el.playbackRate : 1;
      if (k) k.last = t;
      if (k && k.playing === playing && near(implied(k, now, el), t, el)) continue;
      this.known.set(id, { t, playing, at: now, rate, last: t });
      out.push({ id, t: Math.round(t * 1000) / 1000, playing });
    }
    return out;
  }
}

function implied(k: Known, now: number, el: MediaLike): number {
  return k.t + (k.playing ? ((now - k.at) / 1000) * k.rate : 0);
}

// near compares times, around the loop when the element loops.
function near(want: number, got: number, el: MediaLike): boolean {
  let d = Math.abs(want - got);
  const dur = el.duration;
  if (el.loop && isFinite(dur) && dur > 0) {
    d = d % dur;
    d = Math.min(d, dur - d);
  }
  return d <= DRIFT;
}
