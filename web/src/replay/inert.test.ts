import { describe, expect, it } from "vitest";
import { inertEvents } from "./inert";

const el = (tagName: string, attributes: Record<string, unknown>, childNodes: unknown[] = []) => ({ type: 2, tagName, attributes, childNodes });

describe("inertEvents", () => {
  it("renames handlers and drops an iframe's srcdoc in a full snapshot, at any depth", () => {
    const img = el("img", { src: "/a.png", onerror: "x()", alt: "" });
    const form = el("form", { onSubmit: "return false", action: "/buy" }, [img]);
    const frame = el("iframe", { srcdoc: "<script>1</script>", width: "300" });
    const div = el("div", { srcdoc: "kept: not an iframe", "data-on": "kept", one: "1" }, [form, frame]);
    const evs = [{ type: 2, timestamp: 1, data: { node: { type: 0, childNodes: [div] } } }];
    inertEvents(evs);
    expect(img.attributes).toEqual({ src: "/a.png", _onerror: "x()", alt: "" });
    expect(form.attributes).toEqual({ _onSubmit: "return false", action: "/buy" });
    expect(frame.attributes).toEqual({ width: "300" });
    expect(div.attributes).toEqual({ srcdoc: "kept: not an iframe", "data-on": "kept", _one: "1" });
  });

  it("renames handlers in added nodes and attribute changes, and leaves other events alone", () => {
    const added = el("button", { onfocus: "f()" });
    const change = { id: 7, attributes: { onanimationend: "g()", srcdoc: "<p>", class: "x" } };
    const clean = { id: 8, attributes: { class: "y" } };
    const input = { type: 3, timestamp: 3, data: { source: 5, text: "onerror" } };
    const evs = [
      { type: 3, timestamp: 2, data: { source: 0, adds: [{ parentId: 1, node: added }], attributes: [change, clean], texts: [], removes: [] } },
      input,
    ];
    const cleanAttrs = clean.attributes;
    inertEvents(evs);
    expect(added.attributes).toEqual({ _onfocus: "f()" });
    expect(change.attributes).toEqual({ _onanimationend: "g()", class: "x" });
    expect(clean.attributes).toBe(cleanAttrs);
    expect(input.data).toEqual({ source: 5, text: "onerror" });
  });
});
