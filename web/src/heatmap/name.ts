// Element names for people: what a visitor saw on an element ("Add to
// cart", an image's alt text), read from the rebuilt page, so the list of
// most-clicked elements says more than a selector path. Only what the
// recording holds is there, and an element whose text was masked (the
// tracker records it as "*") gets no name at all, not even from its
// attributes.

/** The parts of a DOM element elementName reads (a real Element in the dashboard). */
export interface NamedElement {
  readonly localName: string;
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): NamedElement | null;
}

/** MAX_NAME bounds a name, in characters; longer ones end in "…". */
export const MAX_NAME = 40;

const BUTTON_INPUTS = new Set(["button", "submit", "reset"]);

/** elementName answers a short name for el, "" when it has none worth showing. */
export function elementName(el: NamedElement): string {
  const text = collapse(el.textContent);
  if (masked(text)) return "";
  const attr = (n: string) => shown(el.getAttribute(n));
  const tag = el.localName;
  const input = tag === "input" ? (el.getAttribute("type") ?? "text").toLowerCase() : "";
  const name =
    attr("aria-label") ||
    (tag === "img" ? attr("alt") : "") ||
    (BUTTON_INPUTS.has(input) ? attr("value") : "") ||
    (tag === "input" || tag === "textarea" ? attr("placeholder") : "") ||
    (tag === "input" || tag === "img" ? "" : shown(text)) ||
    shown(el.querySelector("img[alt]")?.getAttribute("alt")) ||
    attr("title");
  const chars = Array.from(name);
  return chars.length > MAX_NAME ? chars.slice(0, MAX_NAME - 1).join("").trimEnd() + "…" : name;
}

function collapse(s: string | null | undefined): string {
  return (s ?? "").replace(/\s+/g, " ").trim();
}

/** masked: text the tracker masked (one "*" per character, spaces kept). */
function masked(t: string): boolean {
  return t !== "" && /^[*\s]+$/.test(t);
}

function shown(s: string | null | undefined): string {
  const t = collapse(s);
  return masked(t) ? "" : t;
}

/** selectorTail shows the end of a selector path (the element and its parents), which tells elements apart. */
export function selectorTail(sel: string): string {
  const steps = sel.split(">");
  return steps.length > 3 ? "…>" + steps.slice(-3).join(">") : sel;
}
