// Replays recorded canvases (charts) without letting recorded content run
// script: rrweb only replays canvases with UNSAFE_replayCanvas, which gives
// the replay iframe `allow-scripts` on the dashboard's origin. The tracker
// records canvases as sampled images (rrweb's canvas FPS sampling), so each
// CanvasMutation is a handful of 2D calls whose arguments are images; they
// are drawn here from the dashboard's script into the (script-less) iframe.
import type { RrwebEvent } from "../lib/ndjson";

const INCREMENTAL = 3;
const CANVAS_MUTATION = 9;
const CONTEXT_2D = 0;

/** What a canvas command's arguments may be, as rrweb serialises them. */
type Arg = unknown;

interface Command {
  property: string;
  args: Arg[];
  setter?: boolean;
}

export interface CanvasMutation {
  id: number;
  type?: number;
  commands?: Command[];
  property?: string;
  args?: Arg[];
  setter?: boolean;
}

/** canvasMutationOf answers a 2D canvas mutation event's data, or undefined. */
export function canvasMutationOf(e: RrwebEvent): CanvasMutation | undefined {
  if (e.type !== INCREMENTAL || e.data?.source !== CANVAS_MUTATION) return undefined;
  const d = e.data as CanvasMutation;
  if (typeof d.id !== "number" || (d.type ?? CONTEXT_2D) !== CONTEXT_2D) return undefined;
  return d;
}

function commandsOf(m: CanvasMutation): Command[] {
  if (Array.isArray(m.commands)) return m.commands.filter((c) => c && typeof c.property === "string" && Array.isArray(c.args));
  if (typeof m.property === "string" && Array.isArray(m.args)) return [{ property: m.property, args: m.args, setter: m.setter }];
  return [];
}

/** A mutation that starts by clearing the canvas replaces everything before it. */
export function isFullFrame(m: CanvasMutation): boolean {
  const c = commandsOf(m)[0];
  return c?.property === "clearRect" && c.args[0] === 0 && c.args[1] === 0;
}

// The 2D methods a replayed frame may call; anything else is ignored.
const ALLOWED = new Set(["clearRect", "drawImage", "fillRect", "putImageData", "save", "restore", "setTransform", "resetTransform", "scale", "translate"]);
const ALLOWED_SETTERS = new Set(["globalAlpha", "globalCompositeOperation", "imageSmoothingEnabled", "fillStyle"]);

function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** deserialize turns rrweb's serialised canvas arguments back into values. */
export async function deserialize(arg: Arg, depth = 0): Promise<unknown> {
  if (depth > 6 || arg === null || typeof arg !== "object") return arg;
  if (Array.isArray(arg)) return Promise.all(arg.map((a) => deserialize(a, depth + 1)));
  const a = arg as { rr_type?: string; base64?: string; data?: Arg[]; type?: string; args?: Arg[]; src?: string };
  switch (a.rr_type) {
    case "ArrayBuffer":
      return typeof a.base64 === "string" ? base64Bytes(a.base64).buffer : undefined;
    case "Blob": {
      const parts = (await Promise.all((a.data ?? []).map((d) => deserialize(d, depth + 1)))) as BlobPart[];
      return new Blob(parts, { type: typeof a.type === "string" ? a.type : "" });
    }
    case "ImageBitmap": {
      const [blob] = (await Promise.all((a.args ?? []).map((d) => deserialize(d, depth + 1)))) as Blob[];
      return blob instanceof Blob ? createImageBitmap(blob) : undefined;
    }
    case "HTMLImageElement": {
      // Only images carried in the event (data: URLs); never a fetch chosen by the page.
      if (typeof a.src !== "string" || !a.src.startsWith("data:image/")) return undefined;
      return createImageBitmap(await (await fetch(a.src)).blob());
    }
  }
  return undefined;
}

interface ReplayerLike {
  getMirror(): { getNode(id: number): Node | null };
  on(event: string, handler: (...args: unknown[]) => void): unknown;
}

/**
 * CanvasReplay is an rrweb replay plugin. Mutations are queued as cast and
 * drawn in order per canvas after the replayer's flush (a seek builds the
 * DOM virtually first) or on the next task during playback; a full frame
 * drops the ones before it.
 */
export class CanvasReplay {
  private queue = new Map<number, CanvasMutation[]>();
  private drawing = new Map<number, Promise<void>>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private replayer: ReplayerLike | undefined;

  /** attach draws after each seek's flush. */
  attach(r: ReplayerLike) {
    this.replayer = r;
    r.on("flush", () => this.flush());
  }

  handler = (event: unknown, isSync: boolean, { replayer }: { replayer: unknown }) => {
    const m = canvasMutationOf(event as RrwebEvent);
    if (!m) {
      if ((event as RrwebEvent).type === 2) this.queue.clear(); // a rebuilt document has new canvases
      return;
    }
    this.replayer = replayer as ReplayerLike;
    const q = this.queue.get(m.id) ?? [];
    if (isFullFrame(m)) q.length = 0;
    q.push(m);
    this.queue.set(m.id, q);
    if (!isSync && this.timer === undefined) this.timer = setTimeout(() => this.flush(), 0);
  };

  flush() {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const r = this.replayer;
    if (!r) return;
    for (const [id, ms] of this.queue) {
      const node = r.getMirror().getNode(id) as HTMLCanvasElement | null;
      if (!node || typeof (node as HTMLCanvasElement).getContext !== "function") continue;
      const prev = this.drawing.get(id) ?? Promise.resolve();
      const next = prev.then(() => draw(node, ms)).catch(() => undefined);
      this.drawing.set(id, next);
    }
    this.queue.clear();
  }
}

async function draw(canvas: HTMLCanvasElement, ms: CanvasMutation[]) {
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  for (const m of ms) {
    const cmds = commandsOf(m);
    const args = await Promise.all(cmds.map((c) => deserialize(c.args)));
    cmds.forEach((c, i) => {
      const a = args[i] as unknown[];
      if (c.setter) {
        if (ALLOWED_SETTERS.has(c.property)) (ctx as unknown as Record<string, unknown>)[c.property] = a[0];
      } else if (ALLOWED.has(c.property)) {
        try {
          (ctx as unknown as Record<string, (...x: unknown[]) => void>)[c.property]?.(...a);
        } catch {
          // A malformed command draws nothing.
        }
      }
    });
  }
}
