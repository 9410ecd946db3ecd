import { describe, expect, it } from "vitest";
import { elementName, MAX_NAME, type NamedElement } from "./name";

/** el is a stand-in for a DOM element: a tag, attributes, text and children (for querySelector("img[alt]")). */
function el(localName: string, attrs: Record<string, string> = {}, ...kids: (NamedElement | string)[]): NamedElement {
  const children = kids.filter((k): k is NamedElement => typeof k !== "string");
  return {
    localName,
    get textContent() {
      return kids.map((k) => (typeof k === "string" ? k : k.textContent)).join("");
    },
    getAttribute: (n) => attrs[n] ?? null,
    querySelector(sel) {
      if (sel !== "img[alt]") throw new Error("unexpected selector " + sel);
      for (const c of children) {
        if (c.localName === "img" && c.getAttribute("alt") !== null) return c;
        const inner = c.querySelector(sel);
        if (inner) return inner;
      }
      return null;
    },
  };
}

describe("elementName", () => {
  it("names an element by what a visitor saw on it", () => {
    expect(elementName(el("a", {}, "\n  Shell ", el("b", {}, "mug"), "\n"))).toBe("Shell mug");
    expect(elementName(el("button", { "aria-label": "Close dialog" }, "×"))).toBe("Close dialog");
    expect(elementName(el("img", { alt: "Brass desk lamp", title: "x" }))).toBe("Brass desk lamp");
    expect(elementName(el("input", { type: "submit", value: "Pay now" }))).toBe("Pay now");
    expect(elementName(el("input", { type: "email", placeholder: "you@example.com", value: "typed" }))).toBe("you@example.com");
    expect(elementName(el("a", { href: "/" }, el("img", { alt: "Lumen & Co." })))).toBe("Lumen & Co.");
    expect(elementName(el("div", { title: "Drag to reorder" }))).toBe("Drag to reorder");
  });

  it("has no name rather than a poor one", () => {
    expect(elementName(el("div"))).toBe("");
    expect(elementName(el("input", { type: "text", value: "what the visitor typed" }))).toBe("");
    expect(elementName(el("img", { src: "/a.png" }))).toBe("");
    expect(elementName(el("span", {}, "   \n\t "))).toBe("");
  });

  it("never names an element whose text was masked, not even from its attributes", () => {
    expect(elementName(el("p", { "aria-label": "Ada Lovelace", title: "Ada" }, "*** ********"))).toBe("");
    expect(elementName(el("input", { type: "submit", value: "****" }))).toBe("");
    expect(elementName(el("a", {}, el("img", { alt: "****" })))).toBe("");
    // Only part of it masked: the rest was recorded in clear.
    expect(elementName(el("li", {}, "Order for ", el("span", {}, "*** ********")))).toBe("Order for *** ********");
  });

  it("cuts long names at a character, not inside one", () => {
    const long = "🙂".repeat(MAX_NAME + 5);
    const name = elementName(el("p", {}, long));
    expect(Array.from(name)).toHaveLength(MAX_NAME);
    expect(name.endsWith("🙂…")).toBe(true);
    expect(elementName(el("p", {}, "x".repeat(MAX_NAME)))).toBe("x".repeat(MAX_NAME));
  });
});
