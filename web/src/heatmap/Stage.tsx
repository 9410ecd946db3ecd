// The map over the page: the rebuilt snapshot (or a blank page of the
// visitors' width), scaled to fit the stage's width and scrolled as a
// whole, with the heat layer, the scroll map's colours and lines, and the
// highlighted element on top in the page's own coordinates. A click on the
// map names the element under it (its selector path, as the tracker
// computes it) for "recordings that clicked here".
import { useEffect, useMemo, useRef, useState } from "react";
import { selectorPath } from "../../../tracker/src/heat";
import type { Schemas } from "../api/client";
import { ErrorBox } from "../components/ui";
import { plural } from "../lib/format";
import { HeatLayer } from "./layer";
import { heatMax, placeClicks, placeMoves, type Box, type Points } from "./place";
import type { MapKind } from "./query";
import { readSnapshotEvents, rebuildPage, type Snapshot } from "./rebuild";
import { percent, scrollGradient } from "./scroll";

type Heatmap = Schemas["v1GetHeatmapResponse"];

/** The page under the map: rebuilt from a snapshot, or blank. */
interface Page {
  width: number;
  height: number;
  locate(selector: string): Box | null;
  elementAt?(x: number, y: number): Element | null;
  destroy?(): void;
}

/** The detail of the sl-heatmap-drawn event the stage sends when a map is drawn (tests listen for it). */
export interface DrawnDetail {
  kind: MapKind;
  width: number;
  height: number;
  xyw: Float32Array;
  n: number;
  selectors: string[];
  unplaced: number;
  fallback: number;
  ms: number;
}

const STYLE: Record<"click" | "move", { radius: number; blur: number }> = {
  click: { radius: 14, blur: 10 },
  move: { radius: 18, blur: 16 },
};

/** blankHeight: tall enough for every point of the map (and the scroll map's average page). */
function blankHeight(data: Heatmap | undefined): number {
  let h = 900;
  for (const c of data?.clicks ?? []) if (c.positioned && Number.isFinite(c.y)) h = Math.max(h, (c.y ?? 0) + 100);
  for (const c of data?.cells ?? []) if (Number.isFinite(c.y)) h = Math.max(h, (c.y ?? 0) + 100);
  return Math.min(60_000, Math.max(h, data?.scroll?.averageHeight ?? 0));
}

export function HeatStage({
  siteId,
  snapshot,
  blankWidth,
  kind,
  data,
  highlight,
  onPick,
}: {
  siteId: string;
  snapshot: Snapshot | undefined;
  blankWidth: number;
  kind: MapKind;
  data: Heatmap | undefined;
  highlight?: string;
  onPick?: (selector: string) => void;
}) {
  const stageRef = useRef<HTMLDivElement>(null);
  const scrollerRef = useRef<HTMLDivElement>(null);
  const rootRef = useRef<HTMLDivElement>(null);
  const overlayRef = useRef<HTMLDivElement>(null);
  const layerRef = useRef<HTMLCanvasElement | null>(null);
  const [page, setPage] = useState<Page | null>(null);
  const [rebuildError, setRebuildError] = useState<unknown>(null);
  const [drawError, setDrawError] = useState<unknown>(null);
  const [drawn, setDrawn] = useState<Omit<DrawnDetail, "xyw" | "selectors" | "kind"> | null>(null);
  const [avail, setAvail] = useState(0);
  const [layer, setLayer] = useState<HeatLayer | null>(null);

  // The heat canvas is made here, not by React: its drawing is handed to a worker once.
  useEffect(() => {
    const c = document.createElement("canvas");
    c.className = "heat-canvas";
    c.setAttribute("aria-hidden", "true");
    c.dataset.testid = "heat-canvas";
    overlayRef.current!.appendChild(c);
    layerRef.current = c;
    const l = new HeatLayer(c);
    setLayer(l);
    return () => {
      l.destroy();
      c.remove();
    };
  }, []);

  useEffect(() => {
    const el = scrollerRef.current!;
    const ro = new ResizeObserver(() => setAvail(el.clientWidth));
    ro.observe(el);
    setAvail(el.clientWidth);
    return () => ro.disconnect();
  }, []);

  // Rebuild the page when the snapshot changes (switching map kinds keeps it).
  const snapKey = snapshot?.sessionId ? `${snapshot.sessionId}|${snapshot.offset ?? ""}|${snapshot.time ?? ""}` : "";
  const blank = snapKey ? 0 : blankHeight(data);
  useEffect(() => {
    setRebuildError(null);
    setDrawn(null);
    if (!snapKey || !snapshot) {
      setPage({ width: blankWidth, height: blank, locate: () => null });
      return;
    }
    setPage(null);
    const ctl = new AbortController();
    let built: Page | undefined;
    const root = rootRef.current!;
    root.replaceChildren();
    (async () => {
      const events = await readSnapshotEvents(siteId, snapshot, ctl.signal);
      const p = await rebuildPage(root, events, snapshot, ctl.signal);
      if (ctl.signal.aborted) return p.destroy();
      built = p;
      setPage(p);
    })().catch((e) => {
      if (ctl.signal.aborted) return;
      // The map is still worth seeing: on a blank page of the snapshot's width.
      setRebuildError(e);
      root.replaceChildren();
      setPage({ width: snapshot.viewportWidth || blankWidth, height: blankHeight(data), locate: () => null });
    });
    return () => {
      ctl.abort();
      built?.destroy?.();
      root.replaceChildren();
    };
    // snapshot is read through snapKey.
  }, [siteId, snapKey, blankWidth, blank]);

  // Draw the map whenever the page or the data changes.
  useEffect(() => {
    if (!page || !data || !layer) return;
    let cancelled = false;
    setDrawError(null);
    setDrawn(null);
    (async () => {
      let pts: Points;
      if (kind === "move") pts = placeMoves(data.cells ?? [], page.width);
      else if (kind === "scroll") pts = placeMoves([], page.width);
      else pts = await placeClicks(data.clicks ?? [], (s) => page.locate(s), page.width);
      if (cancelled) return;
      const style = STYLE[kind === "move" ? "move" : "click"];
      // Weight is summed over a stamp's width: what one pixel of the layer may receive.
      const max = heatMax(pts, 2 * (style.radius + style.blur));
      const ms = await layer.draw({ width: page.width, height: page.height, xyw: pts.xyw, n: pts.n, max, ...style });
      if (cancelled) return;
      const d = { width: page.width, height: page.height, n: pts.n, unplaced: pts.unplaced, fallback: pts.fallback, ms };
      setDrawn(d);
      const detail: DrawnDetail = { ...d, kind, xyw: pts.xyw, selectors: pts.selectors };
      stageRef.current?.dispatchEvent(new CustomEvent("sl-heatmap-drawn", { bubbles: true, detail }));
    })().catch((e) => {
      if (!cancelled && !(e instanceof DOMException && e.name === "AbortError")) setDrawError(e);
    });
    return () => {
      cancelled = true;
    };
  }, [page, data, kind, layer]);

  const box = useMemo(() => (page && highlight ? page.locate(highlight) : null), [page, highlight]);
  const width = page?.width ?? (blankWidth || 1280);
  const height = page?.height ?? 900;
  const scale = avail > 0 ? Math.min(1, avail / width) : 1;
  const scroll = kind === "scroll" ? data?.scroll : undefined;
  const state = drawError ? "error" : !page ? "rebuilding" : drawn ? "drawn" : "drawing";

  // A highlighted element out of sight is scrolled into the stage's view.
  useEffect(() => {
    const el = scrollerRef.current;
    if (!box || !el) return;
    const top = box.top * scale;
    const bottom = (box.top + box.height) * scale;
    if (top < el.scrollTop || bottom > el.scrollTop + el.clientHeight) el.scrollTo({ top: Math.max(0, top - 40), behavior: "instant" as ScrollBehavior });
  }, [box, scale]);

  const pick = (e: React.MouseEvent<HTMLDivElement>) => {
    if (!page?.elementAt || !onPick) return;
    const r = e.currentTarget.getBoundingClientRect();
    const el = page.elementAt((e.clientX - r.left) / scale, (e.clientY - r.top) / scale);
    if (!el || el.localName === "html" || el.localName === "body") return;
    onPick(selectorPath(el));
  };

  return (
    <div
      className="heat-stage"
      ref={stageRef}
      data-testid="heat-stage"
      data-state={state}
      data-snapshot={snapKey ? "1" : "0"}
      data-width={width}
      data-height={height}
      data-scale={scale.toFixed(4)}
      data-points={drawn?.n ?? ""}
      data-unplaced={drawn?.unplaced ?? ""}
    >
      {!!drawError && <ErrorBox error={drawError} />}
      {!!rebuildError && (
        <p className="warn small" role="status" data-testid="heat-rebuild-error">
          The page could not be rebuilt ({rebuildError instanceof Error ? rebuildError.message : "error"}); the map is drawn on a blank page.
        </p>
      )}
      {state === "rebuilding" && (
        <div className="heat-status" role="status">
          <span className="spinner-dot" aria-hidden /> Rebuilding the page from a recording…
        </div>
      )}
      <div className="heat-scroller" ref={scrollerRef} tabIndex={0} role="region" aria-label="The page with its heatmap">
        <div className="heat-sizer" style={{ width: width * scale, height: height * scale }}>
          <div className="heat-root" style={{ width, height, transform: `scale(${scale})` }}>
            <div className="heat-frame" ref={rootRef} />
            <div className="heat-overlay" ref={overlayRef} />
            {scroll && (
              <div className="heat-scrollmap" style={{ background: scrollGradient(scroll.reached ?? []) }} data-testid="heat-scrollmap">
                {!!scroll.averageFold && (
                  <div className="heat-line heat-fold" style={{ top: scroll.averageFold }}>
                    <span>Average fold · {scroll.averageFold} px</span>
                  </div>
                )}
                {scroll.halfDepth !== undefined && (
                  <div className="heat-line heat-half" style={{ top: ((scroll.halfDepth ?? 0) / 100) * height }}>
                    <span>Half of the page views reach {scroll.halfDepth} %</span>
                  </div>
                )}
              </div>
            )}
            {box && <div className="heat-highlight" style={{ left: box.left, top: box.top, width: box.width, height: box.height }} data-testid="heat-highlight" />}
            {kind !== "scroll" && <div className="heat-hit" onClick={pick} data-testid="heat-hit" title="Click a spot to see the recordings that clicked there" />}
          </div>
        </div>
      </div>
      {drawn && (
        <p className="muted small heat-drawn" data-testid="heat-drawn">
          {kind === "scroll" ? (
            <>Page {width} × {height} px.</>
          ) : (
            <>
              {drawn.n.toLocaleString()} {kind === "move" ? "cells" : "spots"} drawn on a page {width} × {height} px
              {drawn.unplaced > 0 && <> · {plural(drawn.unplaced, "click")} not placed (their element is gone and they had no position)</>}
              {drawn.fallback > 0 && <> · {drawn.fallback.toLocaleString()} placed by position (element not found)</>}.
            </>
          )}
        </p>
      )}
      {scroll && <span className="sr-only">{`Scroll map: half of the page views reach ${scroll.halfDepth ?? 0} % of the page; ${percent(scroll.reached?.[100] ?? 0)} reach the bottom.`}</span>}
    </div>
  );
}
