// Feeds a streamed recording to a player: events are held until a full
// snapshot (and at least two events) arrived, because rrweb's Replayer
// cannot start without one; from then on every event is appended live.
import type { RrwebEvent } from "../lib/ndjson";

export interface FeedTarget {
  addEvent(e: RrwebEvent): void;
}

const FULL_SNAPSHOT = 2;

export class ReplayFeeder<T extends FeedTarget> {
  private held: RrwebEvent[] = [];
  private target: T | undefined;
  private first = Infinity;
  private last = -Infinity;

  /** create builds the player from the first events, sorted by time. */
  constructor(private readonly create: (initial: RrwebEvent[]) => T) {}

  get player(): T | undefined {
    return this.target;
  }

  /** Milliseconds between the first and last event seen. */
  get loadedMs(): number {
    return this.last >= this.first ? this.last - this.first : 0;
  }

  push(events: RrwebEvent[]): void {
    for (const e of events) {
      this.first = Math.min(this.first, e.timestamp);
      this.last = Math.max(this.last, e.timestamp);
    }
    if (this.target) {
      for (const e of events) this.target.addEvent(e);
      return;
    }
    this.held.push(...events);
    if (this.held.length >= 2 && this.held.some((e) => e.type === FULL_SNAPSHOT)) this.start();
  }

  /**
   * end is called when the stream is over. It starts a player that was still
   * waiting for a full snapshot if there is anything to show, and reports
   * whether there is a player.
   */
  end(): boolean {
    if (!this.target && this.held.length >= 2) this.start();
    return this.target !== undefined;
  }

  private start() {
    const initial = [...this.held].sort((a, b) => a.timestamp - b.timestamp);
    this.held = [];
    this.target = this.create(initial);
  }
}
