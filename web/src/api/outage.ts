// What the dashboard does while part of Sightline is unavailable: the API
// answered 502/503/504 (other than maintenance mode) or could not be reached.
// The user stays signed in and keeps what is on screen; OutageMonitor checks
// by itself, with backoff that honours Retry-After, and says when the API
// answers again so the app can refresh. It knows nothing of React or fetch.

import { withBase } from "../lib/base";

/** An outage as the banner shows it. */
export interface Outage {
  /** The server's message (which part is unavailable), or ours for a network error. */
  message: string;
  /** Checks that failed since the outage began (the failed request counts as the first). */
  attempt: number;
  /** When the next check runs (ms since the epoch); undefined while one is in flight. */
  nextCheckAt?: number;
}

/** A report of one request that found the API unavailable. */
export interface UnavailableReport {
  /** Empty when the answer said nothing (a stale copy): a known message is kept. */
  message: string;
  retryAfterSeconds?: number;
  /** A GET path that failed: checked again rather than /api/v1/me, so a part that is still down is not declared back. */
  path?: string;
}

/** The answer of one check: "up" is any answer other than unavailable. */
export type CheckResult = { up: true } | { up: false; message?: string; retryAfterSeconds?: number };

export const FIRST_RETRY_MS = 1_000;
/**
 * Backoff stops growing here (the gateway's own Retry-After for an
 * unavailable service), so a dashboard notices a recovery within seconds;
 * one small GET every few seconds per open dashboard is no load.
 */
export const MAX_BACKOFF_MS = 5_000;
export const DEFAULT_CHECK_PATH = withBase("/api/v1/me");
export const DEFAULT_MESSAGE = "showing the last answers Sightline saved; they may be a few minutes old";

/**
 * retryDelayMs is how long to wait before check number attempt+1: doubling
 * from FIRST_RETRY_MS up to MAX_BACKOFF_MS, with up to 20% jitter so that
 * many open dashboards do not come back in step, and never sooner than the
 * server's Retry-After.
 */
export function retryDelayMs(attempt: number, retryAfterSeconds?: number, random: () => number = Math.random): number {
  const backoff = Math.min(MAX_BACKOFF_MS, FIRST_RETRY_MS * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(backoff * (1 + 0.2 * random()));
  const floor = retryAfterSeconds && retryAfterSeconds > 0 ? retryAfterSeconds * 1000 : 0;
  return Math.max(jittered, floor);
}

export interface OutageMonitorOptions {
  /** Asks the API whether path answers; must not report through the middleware. */
  check: (path: string) => Promise<CheckResult>;
  /** Called with the new state whenever it changes (undefined: no outage). */
  onChange: (outage: Outage | undefined) => void;
  /** Called once when the API answers again. */
  onRecovered: () => void;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
  random?: () => number;
}

export class OutageMonitor {
  private outage: Outage | undefined;
  private timer: unknown;
  private checking = false;
  private path: string | undefined;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (t: unknown) => void;

  constructor(private readonly opts: OutageMonitorOptions) {
    this.now = opts.now ?? Date.now;
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>));
  }

  get current(): Outage | undefined {
    return this.outage;
  }

  /** report records a request that found the API unavailable; the first one starts the outage. */
  report(r: UnavailableReport): void {
    if (r.path) this.path = r.path;
    if (!this.outage) {
      this.outage = { message: r.message || DEFAULT_MESSAGE, attempt: 1 };
      this.schedule(r.retryAfterSeconds);
      return;
    }
    const idle = this.timer === undefined && !this.checking;
    if (r.message && r.message !== this.outage.message) this.outage = { ...this.outage, message: r.message };
    if (idle) this.schedule(r.retryAfterSeconds);
    else this.emit();
  }

  /** checkNow runs the next check at once (the banner's "Retry now"). */
  checkNow(): void {
    if (!this.outage || this.checking) return;
    this.cancelTimer();
    void this.check();
  }

  /** stop cancels a pending check (tests, page unload). */
  stop(): void {
    this.cancelTimer();
  }

  private schedule(retryAfterSeconds?: number): void {
    if (!this.outage) return;
    const delay = retryDelayMs(this.outage.attempt, retryAfterSeconds, this.opts.random);
    this.outage = { ...this.outage, nextCheckAt: this.now() + delay };
    this.cancelTimer();
    this.timer = this.setTimer(() => {
      this.timer = undefined;
      void this.check();
    }, delay);
    this.emit();
  }

  private async check(): Promise<void> {
    if (!this.outage) return;
    this.checking = true;
    this.outage = { ...this.outage, nextCheckAt: undefined };
    this.emit();
    let r: CheckResult;
    try {
      r = await this.opts.check(this.path ?? DEFAULT_CHECK_PATH);
    } catch {
      r = { up: false };
    }
    this.checking = false;
    if (!this.outage) return;
    if (r.up) {
      this.outage = undefined;
      this.path = undefined;
      this.cancelTimer();
      this.emit();
      this.opts.onRecovered();
      return;
    }
    this.outage = { ...this.outage, attempt: this.outage.attempt + 1, message: r.message || this.outage.message };
    this.schedule(r.retryAfterSeconds);
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.clearTimer(this.timer);
    this.timer = undefined;
  }

  private emit(): void {
    this.opts.onChange(this.outage);
  }
}
