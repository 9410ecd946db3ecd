import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import { streamRecording } from "./useRecording";

const get = vi.fn();
const post = vi.fn();
vi.mock("../api/client", async (original) => {
  const mod = await original<typeof import("../api/client")>();
  return { ...mod, api: { GET: (...a: unknown[]) => get(...a), POST: (...a: unknown[]) => post(...a) } };
});

const b64 = (v: unknown) => btoa(JSON.stringify(v));
const ndjson = (lines: unknown[]) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode(lines.map((l) => JSON.stringify(l)).join("\n")));
      c.close();
    },
  });
const image = { type: 2, timestamp: 1, data: { node: { type: 2, tagName: "img", attributes: { src: "https://shop.test/a.png" }, childNodes: [] } } };
const HASH = "0123456789abcdef0123";

async function collect(it: AsyncIterable<unknown>) {
  const out = [];
  for await (const x of it) out.push(x);
  return out;
}

beforeEach(() => {
  get.mockReset();
  post.mockReset();
});

describe("streamRecording", () => {
  it("yields the non-empty chunks with captured images pointed at our copies", async () => {
    get.mockResolvedValue({
      data: ndjson([
        { result: { seq: 1, pageViewId: "pv", events: b64([]) } },
        { result: { seq: 2, pageViewId: "pv", events: b64([image, { type: 3, timestamp: 2, data: {} }]) } },
      ]),
      response: new Response(null, { status: 200 }),
    });
    post.mockResolvedValue({ data: { assets: [{ url: "https://shop.test/a.png", hash: HASH }] }, response: new Response(null, { status: 200 }) });
    const chunks = (await collect(streamRecording("site", "sess"))) as { seq: number; events: typeof image[] }[];
    expect(chunks.map((c) => c.seq)).toEqual([2]);
    expect(chunks[0]!.events[0]!.data.node.attributes.src).toBe(`/api/v1/sites/site/assets/${HASH}`);
  });

  it("throws the gateway's error with its status and trace id", async () => {
    get.mockResolvedValue({ error: { message: "unavailable", traceId: "abc123" }, response: new Response(null, { status: 503 }) });
    const err = await collect(streamRecording("site", "sess")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 503, traceId: "abc123" });
  });

  it("fails on an error in the stream", async () => {
    get.mockResolvedValue({ data: ndjson([{ error: { code: 5, message: "gone" } }]), response: new Response(null, { status: 200 }) });
    await expect(collect(streamRecording("site", "sess"))).rejects.toThrow("gone");
  });
});
