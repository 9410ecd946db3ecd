// What makes a rebuilt recording look like the visited page, shared by the
// player and the heatmaps' rebuilt page: the style rules inserted into the
// replay document and the plugins that fix what rrweb alone gets wrong
// (scroll after seeks, canvases, media frames; hover and focus for a replay
// that shows the visitor's pointer).
import { CanvasReplay } from "./canvas";
import { FocusReplay } from "./focus";
import { HoverReplay } from "./hover";
import { MEDIA_RULES, MediaReplay } from "./media";
import { INSTANT_SCROLL_RULES, ScrollReplay } from "./scroll";

export const REPLAY_STYLE_RULES = [...INSTANT_SCROLL_RULES, ...MEDIA_RULES];

/** A replay plugin as rrweb calls it, plus attach (after the Replayer exists). */
export interface FidelityPlugin {
  handler?: (event: unknown, isSync: boolean, context: { replayer: unknown }) => void;
  attach(r: unknown): void;
}

/**
 * Fidelity holds one replay's plugins. pointer: the replay shows the
 * visitor's pointer, so :hover and :focus follow it; a heatmap's still page
 * shows neither.
 */
export class Fidelity {
  private readonly canvas = new CanvasReplay();
  private readonly media = new MediaReplay();
  readonly plugins: FidelityPlugin[];

  constructor({ pointer }: { pointer: boolean }) {
    const all = [new ScrollReplay(), ...(pointer ? [new HoverReplay(), new FocusReplay()] : []), this.canvas, this.media];
    this.plugins = all as unknown as FidelityPlugin[];
  }

  /** attach hands each plugin its replayer (they re-apply their state after rrweb's flushes). */
  attach(r: unknown): void {
    for (const p of this.plugins) p.attach(r);
  }

  destroy(): void {
    this.canvas.destroy();
    this.media.destroy();
  }
}
