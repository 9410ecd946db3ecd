import { describe, expect, it } from "vitest";
import { canvasMutationOf, deserialize, isFullFrame } from "./canvas";

const frame = (id: number, full: boolean) => ({
  type: 3,
  timestamp: 1,
  data: {
    source: 9,
    id,
    type: 0,
    commands: [
      full ? { property: "clearRect", args: [0, 0, 10, 10] } : { property: "fillRect", args: [1, 1, 2, 2] },
      { property: "drawImage", args: [{ rr_type: "ImageBitmap", args: [{ rr_type: "Blob", data: [{ rr_type: "ArrayBuffer", base64: "AAEC" }], type: "image/webp" }] }, 0, 0, 10, 10] },
    ],
  },
});

describe("canvas mutations", () => {
  it("reads 2D mutations and tells full frames", () => {
    expect(canvasMutationOf(frame(3, true))?.id).toBe(3);
    expect(isFullFrame(canvasMutationOf(frame(3, true))!)).toBe(true);
    expect(isFullFrame(canvasMutationOf(frame(3, false))!)).toBe(false);
    expect(canvasMutationOf({ ...frame(3, true), data: { ...frame(3, true).data, type: 1 } })).toBeUndefined(); // WebGL
    expect(canvasMutationOf({ type: 3, timestamp: 1, data: { source: 2 } })).toBeUndefined();
  });

  it("deserializes rrweb's arguments; never fetches a URL chosen by the page", async () => {
    const blob = (await deserialize({ rr_type: "Blob", data: [{ rr_type: "ArrayBuffer", base64: "AAEC" }], type: "image/webp" })) as Blob;
    expect(blob.type).toBe("image/webp");
    expect([...new Uint8Array(await blob.arrayBuffer())]).toEqual([0, 1, 2]);
    expect(await deserialize([1, "a", null])).toEqual([1, "a", null]);
    expect(await deserialize({ rr_type: "HTMLImageElement", src: "https://evil.test/x.png" })).toBeUndefined();
    expect(await deserialize({ rr_type: "Something" })).toBeUndefined();
  });
});
