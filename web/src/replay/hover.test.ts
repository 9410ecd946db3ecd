import { describe, expect, it } from "vitest";
import { mouseOf } from "./hover";

describe("mouseOf", () => {
  it("reads the last position of mouse moves and interactions", () => {
    expect(mouseOf({ type: 3, timestamp: 1, data: { source: 1, positions: [{ x: 1, y: 2 }, { x: 640, y: 400 }] } })).toEqual({ x: 640, y: 400 });
    expect(mouseOf({ type: 3, timestamp: 1, data: { source: 2, type: 2, x: 5, y: 6 } })).toEqual({ x: 5, y: 6 });
  });
  it("ignores other events and malformed positions", () => {
    expect(mouseOf({ type: 3, timestamp: 1, data: { source: 3, x: 5, y: 6 } })).toBeUndefined();
    expect(mouseOf({ type: 3, timestamp: 1, data: { source: 1, positions: [] } })).toBeUndefined();
    expect(mouseOf({ type: 3, timestamp: 1, data: { source: 1, positions: [{ x: "1", y: 2 }] } })).toBeUndefined();
    expect(mouseOf({ type: 2, timestamp: 1, data: { source: 2, x: 5, y: 6 } })).toBeUndefined();
  });
});
