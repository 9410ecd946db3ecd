import { useEffect, useRef, useState } from "react";

/** Shortcut is one key binding of a page, listed under `?`. */
export interface Shortcut {
  /**
   * KeyboardEvent.key values that trigger it, e.g. [" "], ["ArrowLeft"],
   * [">", "."]; "Shift+" before a named key (["Shift+ArrowLeft"]) when it
   * needs Shift held. A plain named key does not fire with Shift held.
   */
  keys: string[];
  /** What the `?` list says it does, e.g. "Play or pause". */
  label: string;
  run: () => void;
}

/** The key that opens (and closes) the list of shortcuts. */
export const HELP_KEY = "?";

/** The parts of a KeyboardEvent (and its target) a binding depends on. */
export interface KeyLike {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  shiftKey?: boolean;
  isComposing?: boolean;
  defaultPrevented?: boolean;
  target?: { tagName?: string; isContentEditable?: boolean; getAttribute?: (name: string) => string | null } | null;
}

// Keys a focused control already answers to: a shortcut must not fire as well.
const ACTIVATION_KEYS = new Set([" ", "Enter"]);
const ARROWS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown"]);

/**
 * leftToTarget says whether the focused element owns this key: anything
 * typed into a field, Space/Enter on a button or link, arrows on a slider.
 */
export function leftToTarget(e: KeyLike): boolean {
  const t = e.target;
  if (!t) return false;
  if (t.isContentEditable) return true;
  const tag = (t.tagName ?? "").toUpperCase();
  if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return true;
  if ((tag === "BUTTON" || tag === "A" || tag === "SUMMARY") && ACTIVATION_KEYS.has(e.key)) return true;
  const role = t.getAttribute?.("role");
  if ((role === "slider" || role === "tab" || role === "listbox") && ARROWS.has(e.key)) return true;
  return false;
}

/**
 * matchShortcut answers what a key press does: a shortcut, "help" for `?`
 * (and Escape while the list is open), or nothing — with Ctrl, Cmd or Alt
 * held (the browser's and the system's keys), while an IME composes, or when
 * the focused element owns the key.
 */
export function matchShortcut(e: KeyLike, shortcuts: readonly Shortcut[], helpOpen = false): Shortcut | "help" | undefined {
  if (e.defaultPrevented || e.isComposing || e.ctrlKey || e.metaKey || e.altKey) return undefined;
  if (leftToTarget(e)) return undefined;
  if (e.key === HELP_KEY || (helpOpen && e.key === "Escape")) return "help";
  // Shift is part of a printable key ("?", ">") but a modifier of a named one.
  const name = e.shiftKey && e.key.length > 1 ? `Shift+${e.key}` : e.key;
  return shortcuts.find((s) => s.keys.includes(name));
}

/**
 * useShortcuts binds a page's shortcuts on window while mounted (and
 * enabled) and answers whether the `?` list is open; render it with
 * <ShortcutHelp> from components/ShortcutHelp.
 */
export function useShortcuts(shortcuts: readonly Shortcut[], enabled = true): { helpOpen: boolean; closeHelp: () => void } {
  const [helpOpen, setHelpOpen] = useState(false);
  // The latest bindings without re-adding the listener each render.
  const latest = useRef({ shortcuts, helpOpen });
  latest.current = { shortcuts, helpOpen };
  useEffect(() => {
    if (!enabled) return;
    const onKey = (e: KeyboardEvent) => {
      const target = e.target instanceof Element ? e.target : null;
      const hit = matchShortcut({ ...pick(e), target: target as KeyLike["target"] }, latest.current.shortcuts, latest.current.helpOpen);
      if (!hit) return;
      e.preventDefault();
      if (hit === "help") setHelpOpen((o) => !o);
      else hit.run();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [enabled]);
  return { helpOpen, closeHelp: () => setHelpOpen(false) };
}

function pick(e: KeyboardEvent): KeyLike {
  return { key: e.key, ctrlKey: e.ctrlKey, metaKey: e.metaKey, altKey: e.altKey, shiftKey: e.shiftKey, isComposing: e.isComposing, defaultPrevented: e.defaultPrevented };
}

/** keyLabel names a key for the `?` list. */
export function keyLabel(key: string): string {
  const names: Record<string, string> = { " ": "Space", ArrowLeft: "←", ArrowRight: "→", ArrowUp: "↑", ArrowDown: "↓", Escape: "Esc" };
  if (key.startsWith("Shift+") && key.length > "Shift+".length) return `Shift+${keyLabel(key.slice("Shift+".length))}`;
  return names[key] ?? key;
}
