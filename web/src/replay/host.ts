// ReplayerHost owns one replay in a frame element: the rrweb Replayer, which
// the feeder creates from the first full snapshot, its fidelity plugins, its
// fit to the frame, and where it starts (at once, or held until the stream
// reaches a requested moment). The Player drives it; it calls back with
// what the page shows.
import { Replayer } from "@rrweb/replay";
import type { RecordingChunk, RrwebEvent } from "../lib/ndjson";
import { ReplayFeeder } from "./feeder";
import { Fidelity, REPLAY_STYLE_RULES } from "./fidelity";
import { inertEvents } from "./inert";

const META = 4;

export interface HostCallbacks {
  /** The replayer exists (and plays, or holds for startAtMs). */
  ready(): void;
  playing(on: boolean, at?: number): void;
  finished(): void;
  skipping(on: boolean): void;
}

export interface HostOptions {
  speed: number;
  skipInactive: boolean;
  /** Start playing here (ms from the start) once that part has arrived; 0 plays at once. */
  startAtMs: number;
}

export class ReplayerHost {
  /** How many chunks were fed (the Player feeds the ones after). */
  fed = 0;
  private replayer: Replayer | undefined;
  private readonly feeder = new ReplayFeeder((evs) => this.create(evs));
  private readonly fidelity = new Fidelity({ pointer: true });
  private size = { width: 1280, height: 720 };
  private actualSize = false;
  private startAt: number;

  constructor(
    private readonly frame: HTMLElement,
    private readonly options: HostOptions,
    private readonly on: HostCallbacks,
  ) {
    this.startAt = options.startAtMs;
  }

  get player(): Replayer | undefined {
    return this.replayer;
  }

  /** Milliseconds between the first and last event fed. */
  get loadedMs(): number {
    return this.feeder.loadedMs;
  }

  /** feed appends the chunks not fed yet. */
  feed(chunks: readonly RecordingChunk[]): void {
    for (const c of chunks.slice(this.fed)) {
      inertEvents(c.events);
      this.feeder.push(c.events);
    }
    this.fed = Math.max(this.fed, chunks.length);
    this.maybeStart(false);
  }

  /** end is called when the stream is over; it answers whether there is anything to replay. */
  end(): boolean {
    if (!this.feeder.end()) return false;
    this.maybeStart(true);
    return true;
  }

  setConfig(c: Partial<Pick<HostOptions, "speed" | "skipInactive">>): void {
    Object.assign(this.options, c);
    this.replayer?.setConfig(c);
  }

  /** fit scales the replay into the frame, or shows it 1:1 (the frame scrolls). */
  fit(actualSize = this.actualSize): void {
    this.actualSize = actualSize;
    const r = this.replayer;
    if (!r) return;
    const { width, height } = this.size;
    const f = this.frame;
    const scale = actualSize ? 1 : Math.min(f.clientWidth / width, f.clientHeight / height);
    const w = r.wrapper;
    w.style.transformOrigin = "0 0";
    w.style.transform = `scale(${scale})`;
    w.style.position = "absolute";
    w.style.left = `${Math.max(0, (f.clientWidth - width * scale) / 2)}px`;
    w.style.top = `${Math.max(0, (f.clientHeight - height * scale) / 2)}px`;
  }

  destroy(): void {
    this.fidelity.destroy();
    this.replayer?.destroy();
    this.replayer = undefined;
    this.frame.replaceChildren();
  }

  private create(evs: RrwebEvent[]) {
    const r = new Replayer(evs as never[], {
      insertStyleRules: REPLAY_STYLE_RULES,
      plugins: this.fidelity.plugins as never[],
      root: this.frame,
      speed: this.options.speed,
      skipInactive: this.options.skipInactive,
      showWarning: false,
      triggerFocus: false,
      mouseTail: { strokeStyle: "rgba(239, 68, 68, 0.6)", lineWidth: 2, duration: 500 },
    });
    r.on("resize", (d: unknown) => {
      const { width, height } = d as { width: number; height: number };
      this.size = { width, height };
      this.fit();
    });
    r.on("finish", () => {
      this.on.playing(false);
      this.on.finished();
    });
    r.on("skip-start", () => this.on.skipping(true));
    r.on("skip-end", () => this.on.skipping(false));
    this.fidelity.attach(r);
    this.replayer = r;
    const meta = evs.find((e) => e.type === META);
    if (meta?.data?.width && meta?.data?.height) this.size = { width: meta.data.width, height: meta.data.height };
    this.fit();
    this.on.ready();
    if (this.startAt > 0) {
      // Hold at the start until the stream has reached the requested moment.
      r.pause(0);
    } else {
      r.play(0);
      this.on.playing(true, 0);
    }
    return { addEvent: (e: RrwebEvent) => r.addEvent(e as never) };
  }

  private maybeStart(done: boolean) {
    const r = this.replayer;
    if (!r || this.startAt <= 0 || (!done && this.loadedMs < this.startAt)) return;
    const at = Math.min(this.startAt, this.loadedMs);
    this.startAt = 0;
    r.play(at);
    this.on.playing(true, at);
  }
}
