import { describe, expect, it } from "vitest";
import { focusOf } from "./focus";

describe("focusOf", () => {
  it("reads the tracker's sl:focus events", () => {
    expect(focusOf({ type: 5, timestamp: 1, data: { tag: "sl:focus", payload: { id: 42, visible: true } } })).toEqual({ id: 42, visible: true });
    expect(focusOf({ type: 5, timestamp: 1, data: { tag: "sl:focus", payload: { id: null, visible: false } } })).toEqual({ id: null, visible: false });
  });
  it("treats anything else as no focus event or no element", () => {
    expect(focusOf({ type: 5, timestamp: 1, data: { tag: "other", payload: { id: 1 } } })).toBeUndefined();
    expect(focusOf({ type: 3, timestamp: 1, data: { tag: "sl:focus", payload: { id: 1 } } })).toBeUndefined();
    expect(focusOf({ type: 5, timestamp: 1, data: { tag: "sl:focus", payload: "x" } })).toBeUndefined();
    expect(focusOf({ type: 5, timestamp: 1, data: { tag: "sl:focus", payload: { id: -3, visible: "yes" } } })).toEqual({ id: null, visible: false });
    expect(focusOf({ type: 5, timestamp: 1, data: { tag: "sl:focus", payload: { id: 1.5 } } })).toEqual({ id: null, visible: false });
  });
});
