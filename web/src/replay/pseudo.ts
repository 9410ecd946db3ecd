// The replay cannot make the page's :hover / :focus / :focus-visible /
// :focus-within rules match by itself (nothing is really hovered or focused
// in the replay iframe), so each rule using them is copied with the
// pseudo-class replaced by a class the replay sets on the elements instead.
// rrweb does this for :hover in the stylesheets it inlines as text, but not
// for stylesheets loaded by URL (our captured copies), hence :hover here too.

/** The classes standing in for the pseudo-classes (rrweb's own for :hover). */
export const PSEUDO_CLASSES = {
  hover: ":hover",
  focus: "sl-focus",
  focusVisible: "sl-focus-visible",
  focusWithin: "sl-focus-within",
} as const;

const esc = (c: string) => "." + c.replace(/:/g, "\\:");

/**
 * pseudoSelector answers selector with the pseudo-classes replaced, or null
 * when it uses none of them.
 */
export function pseudoSelector(selector: string): string | null {
  if (!/:(hover|focus)/.test(selector)) return null;
  const out = selector
    .replace(/:focus-visible\b/g, esc(PSEUDO_CLASSES.focusVisible))
    .replace(/:focus-within\b/g, esc(PSEUDO_CLASSES.focusWithin))
    .replace(/:focus(?![-\w])/g, esc(PSEUDO_CLASSES.focus))
    .replace(/(?<!\\):hover(?![-\w])/g, esc(PSEUDO_CLASSES.hover));
  return out === selector ? null : out;
}

/** The parts of CSSOM read here (structural, so tests can pass plain objects). */
export interface RuleLike {
  type?: number;
  selectorText?: string;
  cssText: string;
  cssRules?: ArrayLike<RuleLike>;
  conditionText?: string;
  media?: { mediaText: string };
  style?: { cssText: string };
}

const STYLE_RULE = 1;
const MEDIA_RULE = 4;
const SUPPORTS_RULE = 12;

/**
 * pseudoRules answers CSS text with a copy of each style rule that uses the
 * pseudo-classes, inside the same @media / @supports conditions.
 */
export function pseudoRules(rules: ArrayLike<RuleLike>, depth = 0): string {
  if (depth > 8) return "";
  let out = "";
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    if (!r) continue;
    if (r.type === STYLE_RULE && r.selectorText && r.style) {
      const sel = pseudoSelector(r.selectorText);
      if (sel) out += `${sel} { ${r.style.cssText} }\n`;
    } else if ((r.type === MEDIA_RULE || r.type === SUPPORTS_RULE) && r.cssRules) {
      const inner = pseudoRules(r.cssRules, depth + 1);
      const cond = r.type === MEDIA_RULE ? `@media ${r.media?.mediaText ?? r.conditionText ?? "all"}` : `@supports ${r.conditionText ?? ""}`;
      if (inner) out += `${cond} {\n${inner}}\n`;
    }
  }
  return out;
}
