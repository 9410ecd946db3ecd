import { describe, expect, it } from "vitest";
import { pseudoRules, pseudoSelector } from "./pseudo";

describe("pseudoSelector", () => {
  it("replaces the interaction pseudo-classes with the replay's classes", () => {
    expect(pseudoSelector(".btn:focus-visible")).toBe(".btn.sl-focus-visible");
    expect(pseudoSelector(".form-control:focus")).toBe(".form-control.sl-focus");
    expect(pseudoSelector(".card:focus-within .x")).toBe(".card.sl-focus-within .x");
    expect(pseudoSelector("a:hover, a:focus")).toBe("a.\\:hover, a.sl-focus");
    expect(pseudoSelector(".a:not(:focus)")).toBe(".a:not(.sl-focus)");
  });
  it("leaves other selectors and rrweb's own :hover class alone", () => {
    expect(pseudoSelector(".btn")).toBeNull();
    expect(pseudoSelector("a:visited")).toBeNull();
    expect(pseudoSelector("a.\\:hover")).toBeNull();
  });
});

describe("pseudoRules", () => {
  it("copies the rules using them, inside their @media and @supports", () => {
    const css = pseudoRules([
      { type: 1, selectorText: "p", cssText: "p { color: red; }", style: { cssText: "color: red;" } },
      { type: 1, selectorText: ".f:focus", cssText: "", style: { cssText: "outline: 1px solid;" } },
      { type: 4, cssText: "", media: { mediaText: "(min-width: 10px)" }, cssRules: [
        { type: 1, selectorText: "a:hover", cssText: "", style: { cssText: "color: blue;" } },
        { type: 1, selectorText: "a", cssText: "", style: { cssText: "color: green;" } },
      ] },
      { type: 12, cssText: "", conditionText: "(display: grid)", cssRules: [{ type: 1, selectorText: "b", cssText: "", style: { cssText: "x: y;" } }] },
    ]);
    expect(css).toBe(".f.sl-focus { outline: 1px solid; }\n@media (min-width: 10px) {\na.\\:hover { color: blue; }\n}\n");
  });
});
