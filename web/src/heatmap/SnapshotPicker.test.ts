import { describe, expect, it } from "vitest";
import { formatDateTime } from "../lib/format";
import { pickLabel } from "./SnapshotPicker";

describe("a recording offered to draw over", () => {
  it("says when, how wide, on what and how long", () => {
    const start = "2026-12-04T10:05:00Z";
    expect(
      pickLabel({ startTime: start, viewportWidth: 1280, client: { deviceType: "DEVICE_TYPE_TABLET", browser: "Safari" }, duration: "125.5s", pageCount: 3 }),
    ).toBe(`${formatDateTime(start)} · 1280 px wide · Tablet · Safari · 2m 06s · 3 pages`);
  });

  it("leaves out what it does not know", () => {
    expect(pickLabel({ startTime: "2026-12-04T10:05:00Z", pages: [{}] })).toBe(`${formatDateTime("2026-12-04T10:05:00Z")} · Unknown · 1 page`);
  });
});
