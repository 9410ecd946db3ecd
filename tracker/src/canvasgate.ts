// rrweb samples canvases in a requestAnimationFrame loop that has no switch to pause it. Each
// sample starts with createImageBitmap(canvas), and rrweb takes no new sample of a canvas while one
// is in progress. build.mjs points rrweb's createImageBitmap here: while the page view is over its
// canvas byte budget (recorder.ts, canvasFits) the bitmap waits for the end of the budget's
// minute, so meanwhile no canvas is read back or encoded, and sampling resumes by itself.
import { Promise as P, setTimeout as later } from './pristine';

let resume = 0;

export function pauseCanvasUntil(t: number): void {
  resume = t;
}

function gated(...a: unknown[]): Promise<ImageBitmap> {
  const take = () => (window.createImageBitmap as (...x: unknown[]) => Promise<ImageBitmap>)(...a);
  const wait = resume - Date.now();
  return wait > 0 ? new P<void>((r) => later(r, wait)).then(take) : take();
}

export { gated as createImageBitmap };
