// Drawing a heat layer with simpleheat (a small, widely used canvas heatmap:
// a blurred stamp per point, then one colouring pass). It runs in a worker
// on an OffscreenCanvas (heat.worker.ts), so 100,000 points never hold up
// the page; drawHeat is the same code for the worker and for browsers that
// cannot hand a canvas to one.
import simpleheat from "simpleheat";

/** The most pixels a layer has; a taller page is drawn at a lower resolution and stretched. */
export const MAX_LAYER_PIXELS = 8_000_000;
/** Chromium's largest canvas side. */
export const MAX_LAYER_SIDE = 16_384;

export interface DrawRequest {
  /** The page's size in CSS pixels (the layer covers it). */
  width: number;
  height: number;
  /** x, y, weight triples in CSS pixels of the page; n of them. */
  xyw: Float32Array;
  n: number;
  /** The weight drawn at full heat. */
  max: number;
  /** Stamp radius and blur in CSS pixels. */
  radius: number;
  blur: number;
}

/** layerScale answers the layer's pixels per CSS pixel: 1, or less for a page too big to draw whole. */
export function layerScale(width: number, height: number): number {
  if (!(width > 0 && height > 0)) return 1;
  return Math.min(1, Math.sqrt(MAX_LAYER_PIXELS / (width * height)), MAX_LAYER_SIDE / width, MAX_LAYER_SIDE / height);
}

type AnyCanvas = HTMLCanvasElement | OffscreenCanvas;

/** drawHeat draws the request on canvas; makeCanvas makes simpleheat's scratch canvases. */
export function drawHeat(canvas: AnyCanvas, req: DrawRequest, makeCanvas: () => AnyCanvas): void {
  const s = layerScale(req.width, req.height);
  canvas.width = Math.max(1, Math.round(req.width * s));
  canvas.height = Math.max(1, Math.round(req.height * s));
  const heat = simpleheat(canvas as HTMLCanvasElement);
  // simpleheat makes its stamp and gradient canvases with document.createElement, which a worker has not.
  (heat as unknown as { _createCanvas: () => AnyCanvas })._createCanvas = makeCanvas;
  const data: [number, number, number][] = new Array(req.n);
  for (let i = 0; i < req.n; i++) data[i] = [req.xyw[i * 3]! * s, req.xyw[i * 3 + 1]! * s, req.xyw[i * 3 + 2]!];
  heat
    .data(data)
    .max(Math.max(1, req.max))
    .radius(Math.max(2, req.radius * s), Math.max(1, req.blur * s))
    .draw(0.08);
}
