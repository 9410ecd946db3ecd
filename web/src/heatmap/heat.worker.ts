// The heat layer's worker: it owns the page's heat canvas (handed over as an
// OffscreenCanvas) and draws each request there, off the main thread.
import { drawHeat, type DrawRequest } from "./draw";

type Message = { type: "init"; canvas: OffscreenCanvas } | ({ type: "draw"; id: number } & DrawRequest);

interface WorkerScope {
  onmessage: ((e: MessageEvent<Message>) => void) | null;
  postMessage(m: unknown): void;
}

const scope = self as unknown as WorkerScope;
let canvas: OffscreenCanvas | undefined;

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === "init") {
    canvas = m.canvas;
    return;
  }
  if (m.type !== "draw" || !canvas) return;
  const t0 = performance.now();
  try {
    drawHeat(canvas, m, () => new OffscreenCanvas(1, 1));
    scope.postMessage({ type: "drawn", id: m.id, ms: performance.now() - t0 });
  } catch (err) {
    scope.postMessage({ type: "failed", id: m.id, message: err instanceof Error ? err.message : String(err) });
  }
};
