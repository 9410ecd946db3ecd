// Replays focus: the tracker's `sl:focus` custom event ({ id, visible }: the
// rrweb id of the focused element, null for none; visible = it matched
// :focus-visible) marks that element with classes, and the page's own
// :focus / :focus-visible / :focus-within (and :hover) rules are copied for
// those classes into one <style> of the replay document (see pseudo.ts).
import type { RrwebEvent } from "../lib/ndjson";
import { PSEUDO_CLASSES, pseudoRules, type RuleLike } from "./pseudo";

const CUSTOM = 5;
export const FOCUS_TAG = "sl:focus";
const STYLE_ID = "sl-replay-pseudo";

export interface FocusState {
  id: number | null;
  visible: boolean;
}

/** focusOf answers the focus an event sets, or undefined when it is not an sl:focus. */
export function focusOf(e: RrwebEvent): FocusState | undefined {
  if (e.type !== CUSTOM || e.data?.tag !== FOCUS_TAG) return undefined;
  const p = e.data.payload;
  if (!p || typeof p !== "object") return undefined;
  const id = typeof p.id === "number" && Number.isInteger(p.id) && p.id > 0 ? p.id : null;
  return { id, visible: p.visible === true };
}

interface ReplayerLike {
  getMirror(): { getNode(id: number): Node | null };
  iframe: HTMLIFrameElement;
}

/** sheetsCss copies the pseudo-class rules of every readable stylesheet of doc. */
export function sheetsCss(doc: Document): string {
  let css = "";
  for (const sheet of Array.from(doc.styleSheets)) {
    if ((sheet.ownerNode as Element | null)?.id === STYLE_ID) continue;
    try {
      css += pseudoRules(sheet.cssRules as unknown as ArrayLike<RuleLike>);
    } catch {
      // A cross-origin stylesheet (not captured) cannot be read.
    }
  }
  return css;
}

/**
 * FocusReplay is an rrweb replay plugin. The focus in force is the last
 * sl:focus cast, so seeks (which cast every event up to the target) end right.
 */
export class FocusReplay {
  private state: FocusState = { id: null, visible: false };
  private marked: Element[] = [];
  private doc: Document | null = null;
  private sheetCount = -1;
  private loadTimer: ReturnType<typeof setTimeout> | undefined;

  /** attach re-applies the marks after a seek's flush (its DOM diff resets class attributes). */
  attach(r: ReplayerLike & { on(event: string, handler: () => void): unknown }) {
    r.on("flush", () => {
      this.apply(r);
      this.watchLoads(r, 40);
    });
  }

  // Stylesheets still loading after a seek are copied once they are in:
  // polled, as listeners on the script-less replay document are not relied on.
  private watchLoads(r: ReplayerLike, tries: number) {
    clearTimeout(this.loadTimer);
    const doc = r.iframe?.contentDocument;
    if (!doc || tries <= 0) return;
    const pending = Array.from(doc.querySelectorAll("link[rel~=stylesheet]")).some((l) => !(l as HTMLLinkElement).sheet);
    this.loadTimer = setTimeout(() => {
      this.writeStyles(doc);
      if (pending) this.watchLoads(r, tries - 1);
    }, 250);
  }

  handler = (event: unknown, _isSync: boolean, { replayer }: { replayer: unknown }) => {
    const r = replayer as ReplayerLike;
    const e = event as RrwebEvent;
    const f = focusOf(e);
    if (e.type === 2) this.state = { id: null, visible: false }; // a full snapshot rebuilds the document
    if (f) this.state = f;
    // Attribute mutations (class) may have cleared the marks; put them back.
    this.apply(r);
  };

  private apply(r: ReplayerLike) {
    const doc = r.iframe?.contentDocument;
    if (!doc) return;
    this.refreshStyles(doc);
    const el = this.state.id === null ? null : r.getMirror().getNode(this.state.id);
    const target = el instanceof (doc.defaultView?.Element ?? Element) || (el && (el as Element).classList) ? (el as Element) : null;
    const want = new Set<Element>();
    if (target) {
      want.add(target);
      for (let p = target.parentElement; p; p = p.parentElement) want.add(p);
    }
    for (const m of this.marked) {
      if (!want.has(m)) m.classList.remove(PSEUDO_CLASSES.focus, PSEUDO_CLASSES.focusVisible, PSEUDO_CLASSES.focusWithin);
    }
    this.marked = [...want];
    if (!target) return;
    for (const m of this.marked) m.classList.add(PSEUDO_CLASSES.focusWithin);
    target.classList.add(PSEUDO_CLASSES.focus);
    target.classList.toggle(PSEUDO_CLASSES.focusVisible, this.state.visible);
  }

  // The copied rules are rebuilt when the document or its set of stylesheets changed;
  // a stylesheet that finishes loading later is caught by the load listener.
  private refreshStyles(doc: Document) {
    if (doc !== this.doc) {
      this.doc = doc;
      this.sheetCount = -1;
      doc.addEventListener("load", () => this.writeStyles(doc), true);
    }
    if (doc.styleSheets.length !== this.sheetCount) this.writeStyles(doc);
  }

  private writeStyles(doc: Document) {
    if (!doc.head) return;
    this.sheetCount = doc.styleSheets.length;
    let style = doc.getElementById(STYLE_ID);
    if (!style) {
      style = doc.createElement("style");
      style.id = STYLE_ID;
    }
    style.textContent = sheetsCss(doc);
    // Last in <head>, so a copy wins over the page's base rules as the original would.
    if (style !== doc.head.lastElementChild) doc.head.appendChild(style);
    this.sheetCount = doc.styleSheets.length;
  }
}
