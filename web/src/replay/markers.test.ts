import { describe, expect, it } from "vitest";
import type { RecordingChunk } from "../lib/ndjson";
import { markersOf } from "./markers";

const meta = (timestamp: number, href: string) => ({ type: 4, timestamp, data: { href, width: 800, height: 600 } });

describe("markersOf", () => {
  it("takes each chunk's page view from its first event, so a reload of the same URL is a new page", () => {
    const chunks: RecordingChunk[] = [
      { seq: 1, pageViewId: "pv1", events: [meta(1000, "https://shop.test/"), { type: 2, timestamp: 1001, data: {} }] },
      // rrweb's periodic re-snapshot within the same page view is no new page.
      { seq: 2, pageViewId: "pv1", events: [meta(3000, "https://shop.test/")] },
      // Out of order within the chunk: the earliest event starts the page view.
      { seq: 3, pageViewId: "pv2", events: [{ type: 3, timestamp: 6000, data: {} }, meta(5000, "https://shop.test/")] },
    ];
    const pages = markersOf(chunks).filter((m) => m.kind === "page");
    expect(pages.map((m) => m.offset)).toEqual([0, 4000]);
  });

  it("has no markers without events", () => {
    expect(markersOf([])).toEqual([]);
  });
});
