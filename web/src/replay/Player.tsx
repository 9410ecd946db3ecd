import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Replayer } from "@rrweb/replay";
import "@rrweb/replay/dist/style.css";
import { api, toApiError, unwrap } from "../api/client";
import { ErrorBox } from "../components/ui";
import { formatClock } from "../lib/format";
import { readRecording, type RrwebEvent } from "../lib/ndjson";
import { ReplayFeeder } from "./feeder";
import { AssetRewriter } from "./assets";
import { CanvasReplay } from "./canvas";
import { FocusReplay } from "./focus";
import { HoverReplay } from "./hover";
import { MEDIA_RULES, MediaReplay } from "./media";
import { INSTANT_SCROLL_RULES, ScrollReplay } from "./scroll";
import { extractMarkers, MARKER_LABELS, type Frustration, type Marker, type PageViewStart } from "../lib/timeline";

export const SPEEDS = [1, 2, 4, 8] as const;
const MAX_CLICK_TICKS = 300;

type Status = "connecting" | "streaming" | "done" | "error";

interface Props {
  siteId: string;
  sessionId: string;
  /** The summary's duration, so the timeline has its length before all data arrived. */
  durationHintMs: number;
  onFinished?: () => void;
  /** Shown in the side panel's "Session" tab. */
  details?: React.ReactNode;
  /** Start playing here (milliseconds from the start) once that part has arrived. */
  startAtMs?: number;
  /** A link to this recording at a time, for "copy link". */
  shareUrl?: (ms: number) => string;
  /** Rage and dead clicks from GetSession (the server's one definition) for the timeline. */
  frustrations?: Frustration[];
}

/**
 * Player streams a recording and replays it with rrweb's Replayer as soon as
 * its first full snapshot arrives; later chunks are appended while it plays.
 */
export function Player({ siteId, sessionId, durationHintMs, onFinished, details, startAtMs = 0, shareUrl, frustrations }: Props) {
  const frameRef = useRef<HTMLDivElement>(null);
  const replayerRef = useRef<Replayer | null>(null);
  const eventsRef = useRef<RrwebEvent[]>([]);
  const pageViewsRef = useRef<PageViewStart[]>([]);
  const sizeRef = useRef({ width: 1280, height: 720 });
  const [status, setStatus] = useState<Status>("connecting");
  const [error, setError] = useState<Error>();
  const [ready, setReady] = useState(false);
  const [playing, setPlaying] = useState(false);
  const [current, setCurrent] = useState(0);
  const [loadedMs, setLoadedMs] = useState(0);
  const [speed, setSpeed] = useState<number>(1);
  const [skipInactive, setSkipInactive] = useState(true);
  const [skipping, setSkipping] = useState(false);
  const [markers, setMarkers] = useState<Marker[]>([]);
  const frustrationsRef = useRef(frustrations);
  frustrationsRef.current = frustrations;
  useEffect(() => {
    // The session (and its list) may arrive after the recording.
    if (eventsRef.current.length) setMarkers(extractMarkers(eventsRef.current, { pageViews: pageViewsRef.current, frustrations }));
  }, [frustrations]);
  const [showClicks, setShowClicks] = useState(false);
  // Actual size (1:1, scrolling the stage) instead of fitting the frame.
  const [actualSize, setActualSize] = useState(false);
  const actualSizeRef = useRef(actualSize);
  actualSizeRef.current = actualSize;
  const [tab, setTab] = useState<"events" | "session">("events");
  const settings = useRef({ speed, skipInactive });
  settings.current = { speed, skipInactive };
  const startAtRef = useRef(startAtMs);
  startAtRef.current = startAtMs;
  const [linkCopied, setLinkCopied] = useState(false);
  const onFinishedRef = useRef(onFinished);
  onFinishedRef.current = onFinished;

  // Until the stream ends the summary's duration sizes the timeline; then the events themselves do.
  const total = status === "done" ? Math.max(loadedMs, 1) : Math.max(loadedMs, durationHintMs, 1);

  const fit = useCallback(() => {
    const r = replayerRef.current;
    const frame = frameRef.current;
    if (!r || !frame) return;
    const { width, height } = sizeRef.current;
    const scale = actualSizeRef.current ? 1 : Math.min(frame.clientWidth / width, frame.clientHeight / height);
    const w = r.wrapper;
    w.style.transformOrigin = "0 0";
    w.style.transform = `scale(${scale})`;
    w.style.position = "absolute";
    w.style.left = `${Math.max(0, (frame.clientWidth - width * scale) / 2)}px`;
    w.style.top = `${Math.max(0, (frame.clientHeight - height * scale) / 2)}px`;
  }, []);

  // Stream the recording and feed the player.
  useEffect(() => {
    const ctrl = new AbortController();
    eventsRef.current = [];
    pageViewsRef.current = [];
    let lastMarkerUpdate = 0;
    const frame = frameRef.current!;

    const focus = new FocusReplay();
    const canvas = new CanvasReplay();
    const scroll = new ScrollReplay();
    const hover = new HoverReplay();
    const media = new MediaReplay();
    const assets = new AssetRewriter(
      async (urls) => (await unwrap(api.POST("/api/v1/sites/{siteId}/assets:lookup", { params: { path: { siteId } }, body: { urls } }))).assets ?? [],
      (hash) => `/api/v1/sites/${encodeURIComponent(siteId)}/assets/${hash}`,
    );
    const create = (evs: RrwebEvent[]) => {
      const r = new Replayer(evs as never[], {
        insertStyleRules: [...INSTANT_SCROLL_RULES, ...MEDIA_RULES],
        plugins: [scroll, hover, focus, canvas, media],
        root: frame,
        speed: settings.current.speed,
        skipInactive: settings.current.skipInactive,
        showWarning: false,
        triggerFocus: false,
        mouseTail: { strokeStyle: "rgba(239, 68, 68, 0.6)", lineWidth: 2, duration: 500 },
      });
      r.on("resize", (d: unknown) => {
        const { width, height } = d as { width: number; height: number };
        sizeRef.current = { width, height };
        fit();
      });
      r.on("finish", () => {
        setPlaying(false);
        onFinishedRef.current?.();
      });
      for (const p of [scroll, hover, focus, canvas, media]) p.attach(r);
      r.on("skip-start", () => setSkipping(true));
      r.on("skip-end", () => setSkipping(false));
      replayerRef.current = r;
      const meta = evs.find((e) => e.type === 4);
      if (meta?.data?.width && meta?.data?.height) sizeRef.current = { width: meta.data.width, height: meta.data.height };
      fit();
      setReady(true);
      if (startAt > 0) {
        // Hold at the start until the stream has reached the requested moment.
        r.pause(0);
      } else {
        r.play(0);
        setPlaying(true);
      }
      return { addEvent: (e: RrwebEvent) => r.addEvent(e as never) };
    };
    const feeder = new ReplayFeeder(create);
    let startAt = startAtRef.current;
    const maybeStart = (done: boolean) => {
      const r = replayerRef.current;
      if (!r || startAt <= 0 || (!done && feeder.loadedMs < startAt)) return;
      const at = Math.min(startAt, feeder.loadedMs);
      startAt = 0;
      setCurrent(at);
      r.play(at);
      setPlaying(true);
    };

    (async () => {
      try {
        const { data, error: err, response } = await api.GET("/api/v1/sites/{siteId}/sessions/{sessionId}/recording", {
          params: { path: { siteId, sessionId } },
          parseAs: "stream",
          signal: ctrl.signal,
        });
        if (!response.ok || !data) throw toApiError(err, response);
        setStatus("streaming");
        for await (const chunk of readRecording(data)) {
          if (ctrl.signal.aborted) return;
          if (chunk.events.length === 0) continue;
          let chunkFirst = Infinity;
          for (const e of chunk.events) {
            chunkFirst = Math.min(chunkFirst, e.timestamp);
            eventsRef.current.push(e);
          }
          pageViewsRef.current.push({ id: chunk.pageViewId, time: chunkFirst });
          feeder.push(await assets.prepare(chunk.events));
          setLoadedMs(feeder.loadedMs);
          maybeStart(false);
          // Re-deriving markers is linear in the events; do it at most a few times a second.
          const now = performance.now();
          if (now - lastMarkerUpdate > 300) {
            lastMarkerUpdate = now;
            setMarkers(extractMarkers(eventsRef.current, { pageViews: pageViewsRef.current, frustrations: frustrationsRef.current }));
          }
        }
        if (ctrl.signal.aborted) return;
        if (!feeder.end()) throw new Error("This recording has no playable data yet. If the visit just happened, try again in a minute.");
        maybeStart(true);
        setMarkers(extractMarkers(eventsRef.current, { pageViews: pageViewsRef.current, frustrations: frustrationsRef.current }));
        setStatus("done");
      } catch (e) {
        if (ctrl.signal.aborted) return;
        setError(e instanceof Error ? e : new Error(String(e)));
        setStatus("error");
      }
    })();

    return () => {
      ctrl.abort();
      canvas.destroy();
      media.destroy();
      replayerRef.current?.destroy();
      replayerRef.current = null;
      frame.replaceChildren();
      setReady(false);
      setPlaying(false);
      setCurrent(0);
      setLoadedMs(0);
      setMarkers([]);
      setStatus("connecting");
      setError(undefined);
    };
  }, [siteId, sessionId, fit]);

  useEffect(fit, [actualSize, fit]);

  // Keep the replay fitted to its frame.
  useEffect(() => {
    const frame = frameRef.current;
    if (!frame) return;
    const ro = new ResizeObserver(fit);
    ro.observe(frame);
    return () => ro.disconnect();
  }, [fit]);

  // The clock.
  useEffect(() => {
    if (!playing) return;
    let raf = 0;
    const tick = () => {
      const r = replayerRef.current;
      if (r) setCurrent(Math.min(r.getCurrentTime(), total));
      raf = requestAnimationFrame(tick);
    };
    raf = requestAnimationFrame(tick);
    return () => cancelAnimationFrame(raf);
  }, [playing, total]);

  const seek = useCallback(
    (offset: number) => {
      const r = replayerRef.current;
      const t = Math.max(0, Math.min(offset, total));
      setCurrent(t);
      if (!r) return;
      if (playing) r.play(t);
      else r.pause(t);
    },
    [playing, total],
  );

  const toggle = useCallback(() => {
    const r = replayerRef.current;
    if (!r) return;
    if (playing) {
      r.pause();
      setPlaying(false);
      return;
    }
    const from = current >= total - 100 ? 0 : current;
    r.play(from);
    setPlaying(true);
  }, [playing, current, total]);

  useEffect(() => replayerRef.current?.setConfig({ speed }), [speed]);
  useEffect(() => replayerRef.current?.setConfig({ skipInactive }), [skipInactive]);

  // Keyboard: space plays/pauses, arrows step 5 s.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t.closest("input, textarea, select, [contenteditable]")) return;
      if (e.key === " ") {
        e.preventDefault();
        toggle();
      } else if (e.key === "ArrowRight") seek(current + 5000);
      else if (e.key === "ArrowLeft") seek(current - 5000);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [toggle, seek, current]);

  // Thousands of click ticks would bury the timeline (and the DOM); past a
  // bound show only the markers that matter.
  const timelineMarkers = useMemo(() => {
    const clicks = markers.filter((m) => m.kind === "click").length;
    return clicks > MAX_CLICK_TICKS ? markers.filter((m) => m.kind !== "click") : markers;
  }, [markers]);
  const listed = useMemo(() => markers.filter((m) => showClicks || m.kind !== "click"), [markers, showClicks]);
  const activeIndex = useMemo(() => {
    let idx = -1;
    listed.forEach((m, i) => {
      if (m.offset <= current + 50) idx = i;
    });
    return idx;
  }, [listed, current]);
  const jump = (m: Marker) => seek(m.kind === "page" ? m.offset : m.offset - 800);

  const onTimelineClick = (e: React.MouseEvent<HTMLDivElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    seek(((e.clientX - rect.left) / rect.width) * total);
  };

  return (
    <div className="player" data-testid="replay-player" data-status={status} data-ready={ready ? "1" : "0"}>
      <div className="player-stage">
        <div className="player-frame" ref={frameRef} data-testid="replay-frame" style={actualSize ? { overflow: "auto" } : undefined} />
        {!ready && status !== "error" && (
          <div className="player-overlay">
            <span className="spinner-dot" /> Loading recording…
          </div>
        )}
        {skipping && <div className="player-skip">Skipping inactivity…</div>}
        {status === "error" && (
          <div className="player-overlay">
            <ErrorBox error={error} />
          </div>
        )}
      </div>
      <div className="timeline" onClick={onTimelineClick} data-testid="timeline" role="slider" aria-valuemin={0} aria-valuemax={total} aria-valuenow={current} aria-label="Timeline" tabIndex={0}>
        <div className="timeline-buffered" style={{ width: `${(loadedMs / total) * 100}%` }} />
        <div className="timeline-progress" style={{ width: `${(current / total) * 100}%` }} />
        {timelineMarkers.map((m, i) => (
          <button
            key={`${m.kind}-${m.time}-${i}`}
            className={`marker marker-${m.kind}`}
            style={{ left: `${(m.offset / total) * 100}%` }}
            title={`${formatClock(m.offset)} · ${MARKER_LABELS[m.kind]}: ${m.label}`}
            data-testid="timeline-marker"
            data-kind={m.kind}
            onClick={(e) => {
              e.stopPropagation();
              jump(m);
            }}
          />
        ))}
        <div className="timeline-head" style={{ left: `${(current / total) * 100}%` }} />
      </div>
      <div className="controls">
        <button className="btn btn-primary play-btn" onClick={toggle} disabled={!ready} data-testid="play-pause" aria-label={playing ? "Pause" : "Play"}>
          {playing ? "❚❚" : "▶"}
        </button>
        <button className="btn btn-small" onClick={() => seek(current - 10_000)} disabled={!ready} title="Back 10 s (←: 5 s)">
          ↺ 10s
        </button>
        <span className="clock" data-testid="player-clock">
          {formatClock(current)} / {formatClock(total)}
        </span>
        <div className="spacer" />
        <div className="speeds" role="group" aria-label="Speed" data-testid="speed">
          {SPEEDS.map((s) => (
            <button key={s} className={`btn btn-small ${speed === s ? "btn-on" : ""}`} onClick={() => setSpeed(s)} aria-pressed={speed === s}>
              {s}×
            </button>
          ))}
        </div>
        <button
          className={`btn btn-small ${actualSize ? "btn-on" : ""}`}
          onClick={() => setActualSize((v) => !v)}
          aria-pressed={actualSize}
          data-testid="actual-size"
          title={actualSize ? "Fit the replay to the player" : "Show the page at its real size (1:1)"}
        >
          1:1
        </button>
        <label className="toggle-inline">
          <input type="checkbox" checked={skipInactive} onChange={(e) => setSkipInactive(e.target.checked)} data-testid="skip-inactive" />
          Skip inactivity
        </label>
        {status === "streaming" && <span className="muted small">loading…</span>}
        {shareUrl && (
          <button
            className="btn btn-small"
            disabled={!ready}
            data-testid="copy-link"
            title="Copy a link to this moment of the recording"
            onClick={async () => {
              const url = shareUrl(current);
              try {
                await navigator.clipboard.writeText(url);
              } catch {
                window.prompt("Link to this moment", url);
              }
              setLinkCopied(true);
              window.setTimeout(() => setLinkCopied(false), 1800);
            }}
          >
            {linkCopied ? "Link copied ✓" : "Copy link"}
          </button>
        )}
      </div>
      <aside className="side-panel">
        <div className="tabs" role="tablist">
          <button role="tab" aria-selected={tab === "events"} className={tab === "events" ? "tab-on" : ""} onClick={() => setTab("events")}>
            Pages &amp; events <span className="muted">{markers.filter((m) => m.kind !== "click").length}</span>
          </button>
          {details && (
            <button role="tab" aria-selected={tab === "session"} className={tab === "session" ? "tab-on" : ""} onClick={() => setTab("session")} data-testid="tab-session">
              Session
            </button>
          )}
        </div>
        {tab === "session" && details ? (
          <div className="side-body">{details}</div>
        ) : (
          <div className="event-list" data-testid="event-list">
            <label className="toggle-inline small event-list-head">
              <input type="checkbox" checked={showClicks} onChange={(e) => setShowClicks(e.target.checked)} /> Show every click
            </label>
            {listed.length === 0 && <p className="muted small side-pad">{status === "done" ? "No pages or events recorded." : "…"}</p>}
            <ol>
              {listed.map((m, i) => (
                <li key={`${m.kind}-${m.time}-${i}`} className={`event-item event-${m.kind} ${i === activeIndex ? "event-active" : ""}`}>
                  <button onClick={() => jump(m)} data-testid="event-list-item" data-kind={m.kind} title={m.detail ?? m.label}>
                    <span className="event-time">{formatClock(m.offset)}</span>
                    <span className={`event-icon icon-${m.kind}`} aria-hidden />
                    <span className="event-label">
                      {m.kind !== "page" && m.kind !== "click" && <em>{MARKER_LABELS[m.kind]}: </em>}
                      {m.label}
                    </span>
                  </button>
                </li>
              ))}
            </ol>
          </div>
        )}
      </aside>
    </div>
  );
}
