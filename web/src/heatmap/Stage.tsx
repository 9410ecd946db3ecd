// The map over the page: the rebuilt snapshot (or a blank page of the
// visitors' width), scaled to fit the stage's width (or at 100 %, the
// user's choice) and scrolled as a whole, with the heat layer, the scroll
// map's colours and lines, and the highlighted element on top in the page's
// own coordinates. Spots and labels keep their size on screen whatever the
// scale. A click on a drawn spot, or on an element that was clicked, names
// it (its selector path, as the tracker computes it) for "recordings that
// clicked here"; a click where nobody clicked says so and goes nowhere.
import { useEffect, useMemo, useRef, useState } from "react";
import { selectorPath } from "../../../tracker/src/heat";
import type { Schemas } from "../api/client";
import { ErrorBox } from "../components/ui";
import { plural } from "../lib/format";
import { HeatLayer } from "./layer";
import { selectorTail } from "./name";
import { heatMax, nearestPoint, placeClicks, placeMoves, type Box, type Points } from "./place";
import { frustrationText, type MapKind } from "./query";
import { readSnapshotEvents, rebuildPage, type Snapshot } from "./rebuild";
import { percent, scrollGradient } from "./scroll";

type Heatmap = Schemas["v1GetHeatmapResponse"];

/** The page under the map: rebuilt from a snapshot, or blank. */
interface Page {
  width: number;
  height: number;
  locate(selector: string): Box | null;
  elementAt?(x: number, y: number): Element | null;
  name?(selector: string): string;
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

/** Spot sizes in screen pixels: the layer is drawn at the page's size, so they are divided by the scale. */
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
  onNames,
}: {
  siteId: string;
  snapshot: Snapshot | undefined;
  blankWidth: number;
  kind: MapKind;
  data: Heatmap | undefined;
  highlight?: string;
  onPick?: (selector: string) => void;
  /** onNames hands over what names the rebuilt page's elements (undefined while there is none). */
  onNames?: (name: ((selector: string) => string) | undefined) => void;
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
  const [zoom, setZoom] = useState<"fit" | "full">("fit");
  // The spot under the pointer (its element's selector) and where the pointer is, for the hover card.
  const [hover, setHover] = useState<{ sel: string; x: number; y: number } | null>(null);
  const [miss, setMiss] = useState(false);
  const pointsRef = useRef<Points | null>(null);

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

  const width = page?.width ?? (blankWidth || 1280);
  const height = page?.height ?? 900;
  const fit = avail > 0 ? Math.min(1, avail / width) : 1;
  const scale = zoom === "fit" ? fit : 1;
  // The scale spots are sized for, in steps, so resizing the window does not redraw at every pixel.
  const spotScale = Math.max(0.05, Math.round(scale * 20) / 20);

  // Draw the map whenever the page, the data or the spot size changes.
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
      pointsRef.current = pts;
      const base = STYLE[kind === "move" ? "move" : "click"];
      // A move map's cells are dense and many (100,000): its stamps grow less, as drawing time grows with their area.
      const grow = 1 / (kind === "move" ? Math.max(spotScale, 0.6) : spotScale);
      const style = { radius: base.radius * grow, blur: base.blur * grow };
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
  }, [page, data, kind, layer, spotScale]);

  useEffect(() => {
    const name = page?.name?.bind(page);
    onNames?.(name);
  }, [page, onNames]);

  // The list's highlight, else the hovered spot's element, is outlined.
  const outlined = highlight ?? hover?.sel;
  const box = useMemo(() => (page && outlined ? page.locate(outlined) : null), [page, outlined]);
  const clicked = useMemo(() => new Set((data?.elements ?? []).map((e) => e.selector ?? "").filter(Boolean)), [data]);
  /** Clicks per element: the ranked list's figures, else the sum of the element's cells (past the list's 200). */
  const clicksOn = useMemo(() => {
    const m = new Map<string, number>();
    for (const c of data?.clicks ?? []) if (c.selector) m.set(c.selector, (m.get(c.selector) ?? 0) + (Number(c.count ?? 0) || 0));
    for (const e of data?.elements ?? []) if (e.selector) m.set(e.selector, Number(e.count ?? 0) || 0);
    return m;
  }, [data]);
  /** The listed elements' rage and dead clicks, as the list says them. */
  const frustrationOn = useMemo(() => new Map((data?.elements ?? []).map((e) => [e.selector ?? "", frustrationText(Number(e.rageClicks ?? 0), Number(e.deadClicks ?? 0))])), [data]);
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

  /** spotAt answers the selector of the drawn spot, or the clicked element, under a point of the map ("" where nobody clicked). */
  const spotAt = (hit: HTMLElement, clientX: number, clientY: number): string => {
    const r = hit.getBoundingClientRect();
    const x = (clientX - r.left) / scale;
    const y = (clientY - r.top) / scale;
    const pts = pointsRef.current;
    const i = pts ? nearestPoint(pts, x, y, STYLE.click.radius / scale) : -1;
    if (i >= 0 && pts!.selectors[i]) return pts!.selectors[i]!;
    // On a clicked element (or inside one: a click on a button's label counts for the button).
    for (let el = page?.elementAt?.(x, y) ?? null; el && el.localName !== "body" && el.localName !== "html"; el = el.parentElement) {
      const sel = selectorPath(el);
      if (clicked.has(sel)) return sel;
    }
    return "";
  };
  const pick = (e: React.MouseEvent<HTMLDivElement>) => {
    if (!onPick) return;
    const sel = spotAt(e.currentTarget, e.clientX, e.clientY);
    setMiss(!sel);
    if (sel) onPick(sel);
  };
  // The hover's hit test (every drawn spot, then the element under the pointer) runs once per
  // frame, on the latest position, however many mouse moves the frame saw.
  const hoverAt = useRef<{ hit: HTMLElement; x: number; y: number } | null>(null);
  const hoverFrame = useRef(0);
  useEffect(() => () => cancelAnimationFrame(hoverFrame.current), []);
  const hoverTest = () => {
    if (hoverFrame.current) return;
    hoverFrame.current = requestAnimationFrame(() => {
      hoverFrame.current = 0;
      const at = hoverAt.current;
      if (!at) return;
      const sel = spotAt(at.hit, at.x, at.y);
      setHover(sel ? { sel, x: at.x, y: at.y } : null);
    });
  };
  const onMove = (e: React.MouseEvent<HTMLDivElement>) => {
    if (!onPick) return;
    hoverAt.current = { hit: e.currentTarget, x: e.clientX, y: e.clientY };
    hoverTest();
  };
  // The map scrolling under a still pointer (the wheel) brings another spot under it.
  const onScroll = () => {
    if (hoverAt.current) hoverTest();
  };
  const unhover = () => {
    hoverAt.current = null;
    setHover(null);
  };
  const lineStyle = { borderTopWidth: 2 / scale };
  const labelStyle = (above: boolean) => ({ transform: `scale(${1 / scale})`, transformOrigin: above ? "0 100%" : "0 0" });
  /** A line's label sits below it, or above it near the page's bottom, so it stays inside the stage. */
  const nearBottom = (top: number) => top > height - 40 / scale;
  const halfTop = Math.min(((scroll?.halfDepth ?? 0) / 100) * height, height - 2 / scale);

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
      {fit < 1 && (
        <div className="segmented heat-zoom" role="group" aria-label="Zoom">
          <button type="button" className={`pill ${zoom === "fit" ? "pill-on" : ""}`} aria-pressed={zoom === "fit"} onClick={() => setZoom("fit")} data-testid="heat-zoom-fit">
            Fit to width ({Math.round(fit * 100)} %)
          </button>
          <button type="button" className={`pill ${zoom === "full" ? "pill-on" : ""}`} aria-pressed={zoom === "full"} onClick={() => setZoom("full")} data-testid="heat-zoom-full">
            100 %
          </button>
        </div>
      )}
      <div className="heat-scroller" ref={scrollerRef} tabIndex={0} role="region" aria-label="The page with its heatmap" onScroll={onScroll}>
        <div className="heat-sizer" style={{ width: width * scale, height: height * scale }}>
          <div className="heat-root" style={{ width, height, transform: `scale(${scale})` }}>
            <div className="heat-frame" ref={rootRef} />
            <div className="heat-overlay" ref={overlayRef} />
            {scroll && (
              <div className="heat-scrollmap" style={{ background: scrollGradient(scroll.reached ?? []) }} data-testid="heat-scrollmap">
                {!!scroll.averageFold && (
                  <div className={`heat-line heat-fold ${nearBottom(scroll.averageFold) ? "heat-line-above" : ""}`} style={{ ...lineStyle, top: Math.min(scroll.averageFold, height - 2 / scale) }} data-testid="heat-fold-line">
                    <span style={labelStyle(nearBottom(scroll.averageFold))}>Average fold · {scroll.averageFold} px</span>
                  </div>
                )}
                {scroll.halfDepth !== undefined && (
                  <div className={`heat-line heat-half ${nearBottom(halfTop) ? "heat-line-above" : ""}`} style={{ ...lineStyle, top: halfTop }} data-testid="heat-half-line">
                    <span style={labelStyle(nearBottom(halfTop))}>Half of the page views reach {scroll.halfDepth} %</span>
                  </div>
                )}
              </div>
            )}
            {box && <div className="heat-highlight" style={{ left: box.left, top: box.top, width: box.width, height: box.height }} data-testid="heat-highlight" />}
            {kind !== "scroll" && (
              <div
                className={`heat-hit ${hover ? "heat-hit-hot" : ""}`}
                onClick={pick}
                onMouseMove={onPick ? onMove : undefined}
                onMouseLeave={onPick ? unhover : undefined}
                data-testid="heat-hit"
                title={onPick && !hover ? "Click a spot to see the recordings that clicked there" : undefined}
              />
            )}
          </div>
        </div>
      </div>
      {hover && (
        <HoverCard
          x={hover.x}
          y={hover.y}
          name={page?.name?.(hover.sel) ?? ""}
          selector={hover.sel}
          clicks={clicksOn.get(hover.sel) ?? 0}
          total={Number(data?.total ?? 0)}
          kind={kind}
          frustration={kind === "click" ? frustrationOn.get(hover.sel) : undefined}
        />
      )}
      {miss && (
        <p className="muted small heat-drawn" role="status" data-testid="heat-miss">
          Nobody clicked there: click a spot, or an element of the list, to see its recordings.
        </p>
      )}
      {drawn && (
        <p className="muted small heat-drawn" data-testid="heat-drawn">
          {kind === "scroll" ? (
            <>Page {width} × {height} px.</>
          ) : (
            <>
              {plural(drawn.n, kind === "move" ? "cell" : "spot")} drawn on a page {width} × {height} px
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

const CLICK_WORDS: Partial<Record<MapKind, string>> = { click: "click", rage: "rage click", dead: "dead click" };

/**
 * HoverCard says what the spot under the pointer is and how often it was clicked, beside the
 * pointer (fixed to the window: the map under it is scaled). The list beside the map says the
 * same to keyboards and screen readers, so the card is hidden from them.
 */
function HoverCard({ x, y, name, selector, clicks, total, kind, frustration }: { x: number; y: number; name: string; selector: string; clicks: number; total: number; kind: MapKind; frustration?: string }) {
  const word = CLICK_WORDS[kind] ?? "click";
  // Kept inside the window: to the pointer's left near the right edge, above it near the bottom.
  const left = x + 260 > window.innerWidth ? Math.max(4, x - 256) : x + 14;
  const top = y + 110 > window.innerHeight ? Math.max(4, y - 100) : y + 16;
  return (
    <div className="heat-card" style={{ left, top }} aria-hidden data-testid="heat-card">
      <strong className="heat-card-name">{name || selectorTail(selector)}</strong>
      {name && <code>{selectorTail(selector)}</code>}
      <span data-testid="heat-card-count">
        {plural(clicks, word)}
        {total > 0 && <> · {percent(clicks / total)}</>}
      </span>
      {frustration && (
        <span className="heat-element-frustration" data-testid="heat-card-frustration">
          {frustration}
        </span>
      )}
      <span className="muted">Click to see the recordings</span>
    </div>
  );
}
