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
 * CanvasReplay is an rrweb replay plugin. Chromium does not paint what a
 * script of the dashboard draws into a canvas of the script-less replay
 * document, so each canvas's frames are drawn into a canvas of the
 * dashboard's own document and shown as the replayed canvas's CSS
 * background (a blob: URL; the canvas itself stays transparent). A full
 * frame (it starts by clearing the canvas) drops the ones before it. rrweb's
 * DOM diff after a seek rewrites the canvas's style attribute, so the
 * backgrounds are set again after each flush.
 */
export class CanvasReplay {
  private frames = new Map<number, CanvasMutation[]>(); // since the last full frame
  private shown = new Map<number, string>(); // blob: URL of each canvas's picture
  private dirty = new Set<number>();
  private drawing: Promise<void> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private replayer: ReplayerLike | undefined;

  /** attach shows the pictures again after each seek's flush. */
  attach(r: ReplayerLike) {
    this.replayer = r;
    r.on("flush", () => this.flush());
  }

  handler = (event: unknown, isSync: boolean, { replayer }: { replayer: unknown }) => {
    this.replayer = replayer as ReplayerLike;
    if ((event as RrwebEvent).type === 2) {
      // A rebuilt document has new canvases.
      this.frames.clear();
      this.clearShown();
      return;
    }
    const m = canvasMutationOf(event as RrwebEvent);
    if (!m) return;
    const q = isFullFrame(m) ? [] : (this.frames.get(m.id) ?? []);
    q.push(m);
    this.frames.set(m.id, q);
    this.dirty.add(m.id);
    if (!isSync && this.timer === undefined) this.timer = setTimeout(() => this.flush(), 0);
  };

  /** destroy frees the pictures. */
  destroy() {
    this.clearShown();
  }

  private clearShown() {
    for (const u of this.shown.values()) URL.revokeObjectURL(u);
    this.shown.clear();
    this.dirty.clear();
  }

  flush() {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const ids = [...this.dirty];
    this.dirty.clear();
    // One render at a time, in cast order.
    this.drawing = this.drawing
      .then(async () => {
        for (const id of ids) {
          const ms = this.frames.get(id);
          const node = this.canvas(id);
          if (!ms || !node) continue;
          const blob = await render(node.width, node.height, ms);
          if (!blob) continue;
          const old = this.shown.get(id);
          this.shown.set(id, URL.createObjectURL(blob));
          if (old) URL.revokeObjectURL(old);
        }
        this.show();
      })
      .catch(() => undefined);
    this.show();
  }

  private canvas(id: number): HTMLCanvasElement | null {
    const n = this.replayer?.getMirror().getNode(id) as HTMLCanvasElement | null | undefined;
    return n && n.nodeName === "CANVAS" ? n : null;
  }

  private show() {
    for (const [id, url] of this.shown) {
      const c = this.canvas(id);
      if (!c) continue;
      c.style.setProperty("background-image", `url("${url}")`, "important");
      c.style.setProperty("background-size", "100% 100%", "important");
      c.style.setProperty("background-repeat", "no-repeat", "important");
    }
  }
}

// render draws a canvas's frames in the dashboard's document and answers the picture.
async function render(width: number, height: number, ms: CanvasMutation[]): Promise<Blob | null> {
  if (!(width > 0 && height > 0 && width * height <= 16_777_216)) return null;
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  if (!ctx) return null;
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
  return new Promise((resolve) => canvas.toBlob(resolve));
}
