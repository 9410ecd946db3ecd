// Media in the replay. Chromium shows its own controls on every <video> of a
// document where scripts cannot run (the replay iframe), and rrweb's media
// sync waits for `loadedmetadata` listeners that never fire there, so a
// replayed video stays at its first frame. MediaReplay puts each video and
// audio element at the time the recording implies (the last recorded
// position, plus the time since when it was playing) whenever the replay is
// paused or has just seeked, polling until the element's metadata is in.
import type { RrwebEvent } from "../lib/ndjson";

export const MEDIA_RULES = ["video:not([controls])::-webkit-media-controls { display: none !important; }"];

const FULL_SNAPSHOT = 2;
const INCREMENTAL = 3;
const CUSTOM = 5;
const MEDIA_INTERACTION = 7;
const PLAY = 0;
const PAUSE = 1;

/** MediaState is what the recording says about one media element. */
export interface MediaState {
  currentTime: number;
  playing: boolean;
  /** When currentTime was recorded (event timestamp). */
  at: number;
}

interface SnapshotNode {
  id?: number;
  tagName?: string;
  attributes?: Record<string, unknown>;
  childNodes?: SnapshotNode[];
}

/** mediaStates reads the media elements' states from a full snapshot. */
export function mediaStates(e: RrwebEvent): Map<number, MediaState> {
  const out = new Map<number, MediaState>();
  if (e.type !== FULL_SNAPSHOT || !e.data?.node) return out;
  const stack: SnapshotNode[] = [e.data.node];
  while (stack.length) {
    const n = stack.pop()!;
    if ((n.tagName === "video" || n.tagName === "audio") && typeof n.id === "number") {
      const a = n.attributes ?? {};
      const t = Number(a.rr_mediaCurrentTime);
      out.set(n.id, { currentTime: Number.isFinite(t) && t >= 0 ? t : 0, playing: a.rr_mediaState === "played" || (a.rr_mediaState === undefined && a.autoplay !== undefined), at: e.timestamp });
    }
    if (Array.isArray(n.childNodes)) stack.push(...n.childNodes);
  }
  return out;
}

/** nextState applies one media interaction event to an element's state. */
export function nextState(prev: MediaState | undefined, e: RrwebEvent): MediaState | undefined {
  if (e.type !== INCREMENTAL || e.data?.source !== MEDIA_INTERACTION) return undefined;
  const t = Number(e.data.currentTime);
  const playing = e.data.type === PLAY ? true : e.data.type === PAUSE ? false : (prev?.playing ?? false);
  const base = prev ? prev.currentTime + (prev.playing ? (e.timestamp - prev.at) / 1000 : 0) : 0;
  return { currentTime: Number.isFinite(t) && t >= 0 ? t : base, playing, at: e.timestamp };
}

/**
 * sampledState reads the tracker's sl:media event (tracker/src/media.ts): where an element really
 * was when the browser stopped or resumed it without a media event (off-screen autoplay).
 */
export function sampledState(e: RrwebEvent): { id: number; state: MediaState } | undefined {
  if (e.type !== CUSTOM || e.data?.tag !== "sl:media") return undefined;
  const p = e.data.payload as { id?: unknown; t?: unknown; playing?: unknown } | undefined;
  const id = Number(p?.id);
  const t = Number(p?.t);
  if (!Number.isInteger(id) || id <= 0 || !Number.isFinite(t) || t < 0) return undefined;
  return { id, state: { currentTime: t, playing: p?.playing === true, at: e.timestamp } };
}

/** timeAt answers where an element is at time now (ms), looping within duration. */
export function timeAt(s: MediaState, now: number, duration: number, loop: boolean): number {
  let t = s.currentTime + (s.playing ? Math.max(0, now - s.at) / 1000 : 0);
  if (Number.isFinite(duration) && duration > 0) t = loop ? t % duration : Math.min(t, duration);
  return t;
}

// A paused video seeked by the replay can go on showing the frame it showed
// before, though its currentTime, readyState and seeking all say the seek is
// done (Chromium: new-age's phone video, seeked forward while the same seek
// scrolled it back into view, showed a visibly earlier frame). requestVideoFrameCallback
// tells which frame was presented; a paused video not seen presenting its own
// time is sought there again, a few times at most.
const FRAME_CHECK_MS = 300;
const FRAME_CHECKS = 3;
// A presented frame this close to currentTime is the one it stands at (a frame at 10 fps).
const FRAME_SLACK_S = 0.1;

interface FrameCallbackVideo extends HTMLMediaElement {
  requestVideoFrameCallback(cb: (now: number, meta: { mediaTime: number }) => void): number;
}

function hasFrameCallback(el: HTMLMediaElement): el is FrameCallbackVideo {
  return typeof (el as Partial<FrameCallbackVideo>).requestVideoFrameCallback === "function";
}

interface ReplayerLike {
  getMirror(): { getNode(id: number): Node | null };
  service?: { state?: { matches?(s: string): boolean } };
  getCurrentTime(): number;
  getMetaData(): { startTime: number };
  on(event: string, handler: () => void): unknown;
}

/** MediaReplay is an rrweb replay plugin; attach it to its replayer too. */
export class MediaReplay {
  private states = new Map<number, MediaState>();
  private replayer: ReplayerLike | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private checkTimer: ReturnType<typeof setTimeout> | undefined;
  /** The media time of each watched video's last presented frame (undefined: none seen yet). */
  private presented = new WeakMap<HTMLMediaElement, number | undefined>();

  attach(r: ReplayerLike) {
    this.replayer = r;
    r.on("flush", () => this.sync(20));
    r.on("pause", () => this.sync(20));
    r.on("start", () => this.play());
  }

  handler = (event: unknown) => {
    const e = event as RrwebEvent;
    if (e.type === FULL_SNAPSHOT) this.states = mediaStates(e);
    const id = e.type === INCREMENTAL && e.data?.source === MEDIA_INTERACTION ? e.data.id : undefined;
    if (typeof id === "number") {
      const s = nextState(this.states.get(id), e);
      if (s) this.states.set(id, s);
    }
    const sampled = sampledState(e);
    if (sampled) {
      this.states.set(sampled.id, sampled.state);
      // While playing, rrweb applies nothing for it: put the element there now.
      if (!this.paused()) this.sync(0);
    }
  };

  /** destroy stops polling. */
  destroy() {
    clearTimeout(this.timer);
    clearTimeout(this.checkTimer);
  }

  private paused(): boolean {
    return this.replayer?.service?.state?.matches?.("paused") ?? true;
  }

  // play resumes the elements the recording has playing when the replay plays.
  private play() {
    const r = this.replayer;
    if (!r) return;
    for (const [id, s] of this.states) {
      const el = r.getMirror().getNode(id) as HTMLMediaElement | null;
      if (s.playing && el && typeof el.play === "function") void el.play().catch(() => undefined);
    }
  }

  // sync seeks each element that has its metadata; the others are tried again shortly.
  private sync(tries: number) {
    clearTimeout(this.timer);
    clearTimeout(this.checkTimer);
    const r = this.replayer;
    if (!r) return;
    const now = r.getMetaData().startTime + r.getCurrentTime();
    let waiting = false;
    const paused: FrameCallbackVideo[] = [];
    for (const [id, s] of this.states) {
      const el = r.getMirror().getNode(id) as HTMLMediaElement | null;
      if (!el || typeof el.pause !== "function") continue;
      if (el.readyState < 1) {
        waiting = true;
        continue;
      }
      try {
        const t = timeAt(s, now, el.duration, el.loop);
        const video = hasFrameCallback(el) ? el : undefined;
        if (video) this.watch(video);
        if (Math.abs(el.currentTime - t) > 0.05) el.currentTime = t;
        if (this.paused()) {
          el.pause();
          if (video) paused.push(video);
        } else if (s.playing) void el.play().catch(() => undefined);
      } catch {
        // An element that cannot seek stays where it is.
      }
    }
    if (waiting && tries > 0) this.timer = setTimeout(() => this.sync(tries - 1), 250);
    if (paused.length) this.checkTimer = setTimeout(() => this.checkFrames(paused, FRAME_CHECKS), FRAME_CHECK_MS);
  }

  // watch follows the frames an element presents, for as long as it is in the replay;
  // one found out of it is forgotten, so that a later sync watches it afresh.
  private watch(el: FrameCallbackVideo) {
    if (this.presented.has(el)) return;
    this.presented.set(el, undefined);
    const next = () =>
      el.requestVideoFrameCallback((_, meta) => {
        if (!el.isConnected) {
          this.presented.delete(el);
          return;
        }
        this.presented.set(el, meta.mediaTime);
        next();
      });
    next();
  }

  // checkFrames seeks each paused video again where its presented frame is not at its time.
  private checkFrames(els: FrameCallbackVideo[], tries: number) {
    if (!this.paused()) return;
    const unsure = els.filter((el) => {
      if (!el.isConnected || !el.paused) return false;
      const at = this.presented.get(el);
      return at === undefined || Math.abs(at - el.currentTime) > FRAME_SLACK_S;
    });
    for (const el of unsure) {
      if (el.seeking || el.readyState < 2) continue; // its seek will present a frame; seen next time
      try {
        el.currentTime = el.currentTime; // the same time: the seek presents its frame
      } catch {
        // An element that cannot seek stays where it is.
      }
    }
    if (unsure.length && tries > 1) this.checkTimer = setTimeout(() => this.checkFrames(unsure, tries - 1), FRAME_CHECK_MS);
  }
}
