import { describe, expect, it } from "vitest";
import { keyLabel, matchShortcut, type KeyLike, type Shortcut } from "./useShortcuts";

const calls: string[] = [];
const shortcuts: Shortcut[] = [
  { keys: [" ", "k"], label: "Play or pause", run: () => calls.push("toggle") },
  { keys: ["ArrowLeft"], label: "Back 5 s", run: () => calls.push("back") },
  { keys: [">"], label: "Faster", run: () => calls.push("faster") },
];
const el = (tagName: string, attrs: Record<string, string> = {}, isContentEditable = false) => ({
  tagName,
  isContentEditable,
  getAttribute: (n: string) => attrs[n] ?? null,
});
const press = (key: string, more: Partial<KeyLike> = {}) => matchShortcut({ key, target: el("BODY"), ...more }, shortcuts);

describe("matchShortcut", () => {
  it("finds the shortcut bound to a key", () => {
    expect(press(" ")).toBe(shortcuts[0]);
    expect(press("k")).toBe(shortcuts[0]);
    expect(press("ArrowLeft")).toBe(shortcuts[1]);
    expect(press(">")).toBe(shortcuts[2]);
    expect(press("x")).toBeUndefined();
  });

  it("opens the list with ? and closes it with ? or Escape", () => {
    expect(press("?")).toBe("help");
    expect(press("Escape")).toBeUndefined();
    expect(matchShortcut({ key: "Escape", target: el("BODY") }, shortcuts, true)).toBe("help");
  });

  it("ignores keys typed into fields", () => {
    for (const tag of ["INPUT", "TEXTAREA", "SELECT", "input"]) {
      expect(press("k", { target: el(tag) }), tag).toBeUndefined();
      expect(press("?", { target: el(tag) }), tag).toBeUndefined();
    }
    expect(press(" ", { target: el("DIV", {}, true) })).toBeUndefined();
  });

  it("leaves Space and Enter to a focused button or link, arrows to a slider", () => {
    expect(press(" ", { target: el("BUTTON") })).toBeUndefined();
    expect(press(" ", { target: el("A") })).toBeUndefined();
    expect(press("ArrowLeft", { target: el("BUTTON") })).toBe(shortcuts[1]);
    expect(press("ArrowLeft", { target: el("DIV", { role: "slider" }) })).toBeUndefined();
    expect(press(" ", { target: el("DIV", { role: "slider" }) })).toBe(shortcuts[0]);
  });

  it("leaves the browser's and system's keys alone", () => {
    expect(press("k", { ctrlKey: true })).toBeUndefined();
    expect(press("k", { metaKey: true })).toBeUndefined();
    expect(press("k", { altKey: true })).toBeUndefined();
    expect(press("k", { isComposing: true })).toBeUndefined();
    expect(press("k", { defaultPrevented: true })).toBeUndefined();
  });

  it("tells Shift+arrow from the arrow, and takes printable keys as typed", () => {
    const big: Shortcut = { keys: ["Shift+ArrowLeft"], label: "Back 30 s", run: () => calls.push("big") };
    const all = [...shortcuts, big];
    expect(matchShortcut({ key: "ArrowLeft", shiftKey: true, target: el("BODY") }, all)).toBe(big);
    expect(matchShortcut({ key: "ArrowLeft", target: el("BODY") }, all)).toBe(shortcuts[1]);
    expect(matchShortcut({ key: "ArrowLeft", shiftKey: true, target: el("BODY") }, shortcuts)).toBeUndefined();
    expect(matchShortcut({ key: ">", shiftKey: true, target: el("BODY") }, all)).toBe(shortcuts[2]);
    expect(matchShortcut({ key: "?", shiftKey: true, target: el("BODY") }, all)).toBe("help");
  });

  it("works without a target (a synthetic event)", () => {
    expect(matchShortcut({ key: "k" }, shortcuts)).toBe(shortcuts[0]);
  });
});

describe("keyLabel", () => {
  it("names the keys people cannot read from KeyboardEvent.key", () => {
    expect([" ", "ArrowLeft", "ArrowRight", "Escape", ">"].map(keyLabel)).toEqual(["Space", "←", "→", "Esc", ">"]);
    expect(keyLabel("Shift+ArrowRight")).toBe("Shift+→");
  });
});
