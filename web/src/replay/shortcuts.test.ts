import { describe, expect, it } from "vitest";
import { matchShortcut, type KeyLike } from "../app/useShortcuts";
import { BIG_STEP_MS, nextSpeed, playerShortcuts, sliderTarget, STEP_MS } from "./shortcuts";

/** press answers what the replay page does for a key pressed on the page's body. */
function press(key: string, more: Partial<KeyLike> = {}) {
  const done: string[] = [];
  const shortcuts = playerShortcuts({
    toggle: () => done.push("toggle"),
    seekBy: (ms) => done.push(`seek ${ms}`),
    speedBy: (step) => done.push(`speed ${step}`),
    toggleActualSize: () => done.push("1:1"),
  });
  const hit = matchShortcut({ key, target: { tagName: "BODY", getAttribute: () => null }, ...more }, shortcuts);
  if (hit === "help") return "help";
  hit?.run();
  return done.join(",");
}

describe("playerShortcuts", () => {
  it("binds play/pause, steps, speed and 1:1", () => {
    expect(press(" ")).toBe("toggle");
    expect(press("k")).toBe("toggle");
    expect(press("ArrowLeft")).toBe(`seek ${-STEP_MS}`);
    expect(press("ArrowRight")).toBe(`seek ${STEP_MS}`);
    expect(press("ArrowLeft", { shiftKey: true })).toBe(`seek ${-BIG_STEP_MS}`);
    expect(press("ArrowRight", { shiftKey: true })).toBe(`seek ${BIG_STEP_MS}`);
    expect(press("<", { shiftKey: true })).toBe("speed -1");
    expect(press(",")).toBe("speed -1");
    expect(press(">", { shiftKey: true })).toBe("speed 1");
    expect(press(".")).toBe("speed 1");
    expect(press("f")).toBe("1:1");
    expect(press("?", { shiftKey: true })).toBe("help");
    expect(press("x")).toBe("");
  });

  it("leaves Space on a focused button to the button", () => {
    expect(press(" ", { target: { tagName: "BUTTON", getAttribute: () => null } })).toBe("");
  });

  it("gives no two shortcuts the same key", () => {
    const keys = playerShortcuts({ toggle() {}, seekBy() {}, speedBy() {}, toggleActualSize() {} }).flatMap((s) => s.keys);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe("nextSpeed", () => {
  it("steps through the speeds and stops at either end", () => {
    expect(nextSpeed(1, 1)).toBe(2);
    expect(nextSpeed(8, -1)).toBe(4);
    expect(nextSpeed(8, 1)).toBe(8);
    expect(nextSpeed(1, -1)).toBe(1);
  });
});

describe("sliderTarget", () => {
  it("moves the clock by arrows, Page Up/Down, Home and End", () => {
    expect(sliderTarget("ArrowRight", false, 10_000, 60_000)).toBe(10_000 + STEP_MS);
    expect(sliderTarget("ArrowLeft", true, 40_000, 60_000)).toBe(40_000 - BIG_STEP_MS);
    expect(sliderTarget("PageUp", false, 0, 60_000)).toBe(BIG_STEP_MS);
    expect(sliderTarget("Home", false, 30_000, 60_000)).toBe(0);
    expect(sliderTarget("End", false, 0, 60_000)).toBe(60_000);
    expect(sliderTarget("k", false, 0, 60_000)).toBeUndefined();
  });
});
