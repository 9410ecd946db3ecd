// Reads grpc-gateway's server-streaming answers: newline-delimited JSON, one
// {"result": ...} or {"error": google.rpc.Status} object a line.
import type { Schemas } from "../api/client";

/** A line longer than this is refused rather than buffered without bound. */
export const MAX_LINE_BYTES = 32 << 20;

export class StreamError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
    this.name = "StreamError";
  }
}

/** readNdjson yields each JSON value of a newline-delimited stream as it arrives. */
export async function* readNdjson(
  stream: ReadableStream<Uint8Array>,
  maxLineBytes = MAX_LINE_BYTES,
): AsyncGenerator<unknown> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  const parse = (line: string) => {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      throw new StreamError(`malformed line in stream: ${line.slice(0, 80)}`);
    }
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) yield parse(line);
      }
      if (buf.length > maxLineBytes) throw new StreamError(`stream line exceeds ${maxLineBytes} bytes`);
    }
    buf += decoder.decode();
    const last = buf.trim();
    if (last) yield parse(last);
  } finally {
    reader.releaseLock();
  }
}

/** RrwebEvent is the part of an rrweb event the dashboard reads. */
export interface RrwebEvent {
  type: number;
  data: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- rrweb's event data is a union keyed by type
  timestamp: number;
  delay?: number;
}

export interface RecordingChunk {
  seq: number;
  pageViewId: string;
  events: RrwebEvent[];
}

/** decodeBase64Json decodes protojson bytes (standard or URL-safe base64) holding UTF-8 JSON. */
export function decodeBase64Json(b64: string): unknown {
  const std = b64.replace(/-/g, "+").replace(/_/g, "/");
  const padded = std + "===".slice((std.length + 3) % 4);
  const bin = atob(padded);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return JSON.parse(new TextDecoder().decode(bytes));
}

function isEvent(e: unknown): e is RrwebEvent {
  if (!e || typeof e !== "object") return false;
  const x = e as { type?: unknown; timestamp?: unknown };
  return typeof x.type === "number" && typeof x.timestamp === "number" && Number.isFinite(x.timestamp);
}

/** toChunk turns one StreamRecordingResponse into rrweb events, dropping malformed ones. */
export function toChunk(msg: Schemas["v1StreamRecordingResponse"]): RecordingChunk {
  let events: RrwebEvent[] = [];
  if (msg.events) {
    let parsed: unknown;
    try {
      parsed = decodeBase64Json(msg.events);
    } catch {
      throw new StreamError(`chunk ${msg.seq ?? "?"}: events are not base64 JSON`);
    }
    if (!Array.isArray(parsed)) throw new StreamError(`chunk ${msg.seq ?? "?"}: events are not a JSON array`);
    events = parsed.filter(isEvent);
  }
  return { seq: Number(msg.seq ?? 0), pageViewId: msg.pageViewId ?? "", events };
}

/** readRecording yields the chunks of GET .../recording, failing on an in-stream error. */
export async function* readRecording(stream: ReadableStream<Uint8Array>): AsyncGenerator<RecordingChunk> {
  for await (const line of readNdjson(stream)) {
    if (!line || typeof line !== "object") throw new StreamError("unexpected value in stream");
    const l = line as { result?: Schemas["v1StreamRecordingResponse"]; error?: Schemas["rpcStatus"] };
    if (l.error) throw new StreamError(l.error.message || "the recording stream failed", l.error.code);
    if (l.result) yield toChunk(l.result);
  }
}
