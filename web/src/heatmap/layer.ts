// HeatLayer is the heat canvas over the rebuilt page. Its pixels are drawn
// by a worker (heat.worker.ts) when the browser can hand a canvas to one;
// otherwise on the main thread (drawHeat).
import { drawHeat, type DrawRequest } from "./draw";

type Reply = { type: "drawn"; id: number; ms: number } | { type: "failed"; id: number; message: string };

export class HeatLayer {
  private worker: Worker | undefined;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (ms: number) => void; reject: (e: Error) => void }>();

  constructor(readonly canvas: HTMLCanvasElement) {
    if (typeof Worker === "undefined" || !("transferControlToOffscreen" in canvas)) return;
    const off = canvas.transferControlToOffscreen();
    const w = new Worker(new URL("./heat.worker.ts", import.meta.url), { type: "module" });
    w.onmessage = (e: MessageEvent<Reply>) => {
      const r = e.data;
      const p = this.waiting.get(r.id);
      if (!p) return;
      this.waiting.delete(r.id);
      if (r.type === "drawn") p.resolve(r.ms);
      else p.reject(new Error(`the heat layer could not be drawn: ${r.message}`));
    };
    w.onerror = (e) => this.failAll(new Error(`the heat layer's worker failed: ${e.message || "unknown error"}`));
    w.postMessage({ type: "init", canvas: off }, [off]);
    this.worker = w;
  }

  /** draw draws the points over a page of the request's size; it answers the drawing time in ms. */
  draw(req: DrawRequest): Promise<number> {
    this.canvas.style.width = `${req.width}px`;
    this.canvas.style.height = `${req.height}px`;
    if (!this.worker) {
      const t0 = performance.now();
      drawHeat(this.canvas, req, () => document.createElement("canvas"));
      return Promise.resolve(performance.now() - t0);
    }
    const id = ++this.seq;
    // Only the latest drawing matters: an earlier one still waiting is dropped.
    for (const [k, p] of this.waiting) {
      this.waiting.delete(k);
      p.reject(new DOMException("replaced by a newer drawing", "AbortError"));
    }
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // A copy of the points goes over (transferred, not cloned); the caller keeps its own.
      const xyw = req.xyw.slice(0, req.n * 3);
      this.worker!.postMessage({ ...req, xyw, type: "draw", id }, [xyw.buffer]);
    });
  }

  destroy(): void {
    this.worker?.terminate();
    this.worker = undefined;
    this.failAll(new DOMException("the heat layer was removed", "AbortError"));
  }

  private failAll(e: Error) {
    for (const p of this.waiting.values()) p.reject(e);
    this.waiting.clear();
  }
}
