// The replay page's keyboard shortcuts (bound by app/useShortcuts, listed
// under `?`).
import type { Shortcut } from "../app/useShortcuts";

export const SPEEDS = [1, 2, 4, 8] as const;

/** A small step of the arrows, and a big one (with Shift, and Page Up/Down on the timeline). */
export const STEP_MS = 5_000;
export const BIG_STEP_MS = 30_000;

export interface PlayerControls {
  toggle(): void;
  /** seekBy moves the clock by ms (negative: back). */
  seekBy(ms: number): void;
  /** speedBy moves through SPEEDS: -1 slower, +1 faster. */
  speedBy(step: -1 | 1): void;
  toggleActualSize(): void;
}

/** nextSpeed is the speed step places away from speed in SPEEDS, staying within it. */
export function nextSpeed(speed: number, step: -1 | 1): number {
  const i = Math.max(0, SPEEDS.indexOf(speed as (typeof SPEEDS)[number]));
  return SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, i + step))] ?? speed;
}

export function playerShortcuts(c: PlayerControls): Shortcut[] {
  return [
    { keys: [" ", "k"], label: "Play or pause", run: c.toggle },
    { keys: ["ArrowLeft"], label: "Back 5 s", run: () => c.seekBy(-STEP_MS) },
    { keys: ["ArrowRight"], label: "Forward 5 s", run: () => c.seekBy(STEP_MS) },
    { keys: ["Shift+ArrowLeft"], label: "Back 30 s", run: () => c.seekBy(-BIG_STEP_MS) },
    { keys: ["Shift+ArrowRight"], label: "Forward 30 s", run: () => c.seekBy(BIG_STEP_MS) },
    { keys: ["<", ","], label: "Slower", run: () => c.speedBy(-1) },
    { keys: [">", "."], label: "Faster", run: () => c.speedBy(1) },
    { keys: ["f"], label: "Real size (1:1) or fit", run: c.toggleActualSize },
  ];
}

/** sliderTarget is where a key moves the timeline's clock, or undefined when the key is not the slider's. */
export function sliderTarget(key: string, shift: boolean, current: number, total: number): number | undefined {
  const step = shift ? BIG_STEP_MS : STEP_MS;
  switch (key) {
    case "ArrowLeft":
    case "ArrowDown":
      return current - step;
    case "ArrowRight":
    case "ArrowUp":
      return current + step;
    case "PageDown":
      return current - BIG_STEP_MS;
    case "PageUp":
      return current + BIG_STEP_MS;
    case "Home":
      return 0;
    case "End":
      return total;
  }
  return undefined;
}
