import { describe, expect, it } from "vitest";
import { decodeBase64Json, readNdjson, readRecording, StreamError } from "./ndjson";

function streamOf(parts: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(typeof p === "string" ? enc.encode(p) : p);
      c.close();
    },
  });
}

async function collect<T>(it: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));

describe("readNdjson", () => {
  it("splits lines across arbitrary chunk boundaries", async () => {
    const got = await collect(readNdjson(streamOf(['{"a":', '1}\n{"b"', ":2}\r\n\n", '{"c":3}'])));
    expect(got).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
  });

  it("decodes multi-byte characters split between chunks", async () => {
    const bytes = new TextEncoder().encode('{"s":"Grüße 🙂"}\n');
    const got = await collect(readNdjson(streamOf([bytes.slice(0, 9), bytes.slice(9, 17), bytes.slice(17)])));
    expect(got).toEqual([{ s: "Grüße 🙂" }]);
  });

  it("yields each line before the stream ends", async () => {
    let push!: (s: string) => void;
    let close!: () => void;
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        push = (s) => c.enqueue(new TextEncoder().encode(s));
        close = () => c.close();
      },
    });
    const it = readNdjson(stream);
    push('{"n":1}\n');
    expect((await it.next()).value).toEqual({ n: 1 });
    push('{"n":2}\n');
    expect((await it.next()).value).toEqual({ n: 2 });
    close();
    expect((await it.next()).done).toBe(true);
  });

  it("refuses malformed lines and unbounded lines", async () => {
    await expect(collect(readNdjson(streamOf(["{oops}\n"])))).rejects.toBeInstanceOf(StreamError);
    await expect(collect(readNdjson(streamOf(["x".repeat(100)]), 64))).rejects.toThrow(/exceeds 64 bytes/);
  });
});

describe("readRecording", () => {
  const events1 = [
    { type: 4, data: { href: "https://shop.example.com/", width: 1280, height: 720 }, timestamp: 1000 },
    { type: 2, data: { node: {} }, timestamp: 1001 },
  ];
  const events2 = [{ type: 3, data: { source: 2, type: 2, x: 5, y: 6, id: 3 }, timestamp: 1500 }, { junk: true }];

  it("decodes base64 event arrays of each result", async () => {
    const stream = streamOf([
      JSON.stringify({ result: { seq: "0", pageViewId: "p_1", events: b64(JSON.stringify(events1)) } }) + "\n",
      JSON.stringify({ result: { seq: "1", pageViewId: "p_1", events: b64(JSON.stringify(events2)) } }) + "\n",
    ]);
    const chunks = await collect(readRecording(stream));
    expect(chunks.map((c) => c.seq)).toEqual([0, 1]);
    expect(chunks[0]!.events).toEqual(events1);
    // The malformed event is dropped, the good one kept.
    expect(chunks[1]!.events).toEqual([events2[0]]);
  });

  it("fails with the server's message on an error line", async () => {
    const stream = streamOf([
      JSON.stringify({ result: { seq: "0", events: b64("[]") } }) + "\n",
      JSON.stringify({ error: { code: 14, message: "recordings unavailable" } }) + "\n",
    ]);
    const err = await collect(readRecording(stream)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamError);
    expect((err as StreamError).message).toBe("recordings unavailable");
    expect((err as StreamError).code).toBe(14);
  });

  it("refuses events that are not a JSON array", async () => {
    const stream = streamOf([JSON.stringify({ result: { seq: "3", events: b64('{"a":1}') } })]);
    await expect(collect(readRecording(stream))).rejects.toThrow(/chunk 3: events are not a JSON array/);
  });

  it("accepts URL-safe base64 without padding", () => {
    const s = JSON.stringify([{ t: "ü~~~?" }]);
    const urlSafe = b64(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    expect(urlSafe).toMatch(/[-_]/);
    expect(decodeBase64Json(urlSafe)).toEqual([{ t: "ü~~~?" }]);
  });
});
