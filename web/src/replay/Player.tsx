import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import "@rrweb/replay/dist/style.css";
import { useShortcuts } from "../app/useShortcuts";
import { isMissing } from "../components/NotFound";
import { PathText } from "../components/PathText";
import { ShortcutHelp } from "../components/ShortcutHelp";
import { ErrorBox, QueryStatus } from "../components/ui";
import { formatClock, sharedPrefix } from "../lib/format";
import { MARKER_LABELS, type Frustration, type Marker } from "../lib/timeline";
import { useMarkers } from "./markers";
import { nextSpeed, playerShortcuts, SPEEDS } from "./shortcuts";
import { Timeline } from "./Timeline";
import { usePlayback } from "./usePlayback";
import { useRecording } from "./useRecording";
import { useFeeding, useReplayerHost } from "./useReplayer";

const MAX_CLICK_TICKS = 300;
const NO_DATA = new Error("This recording has no playable data yet. If the visit just happened, try again in a minute.");

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
 * Player streams a recording (useRecording) and replays it with rrweb's
 * Replayer (ReplayerHost) as soon as its first full snapshot arrives; later
 * chunks are fed while it plays.
 */
export function Player({ siteId, sessionId, durationHintMs, onFinished, details, startAtMs = 0, shareUrl, frustrations }: Props) {
  const frameRef = useRef<HTMLDivElement>(null);
  const recording = useRecording(siteId, sessionId);
  const chunks = recording.data;
  const streamed = recording.isSuccess && recording.fetchStatus === "idle";
  const [speed, setSpeed] = useState<number>(1);
  const [skipInactive, setSkipInactive] = useState(true);
  const [skipping, setSkipping] = useState(false);
  // Actual size (1:1, scrolling the stage) instead of fitting the frame.
  const [actualSize, setActualSize] = useState(false);
  const [showClicks, setShowClicks] = useState(false);
  const [tab, setTab] = useState<"events" | "session">("events");
  const [linkCopied, setLinkCopied] = useState(false);

  const hostSetup = useMemo(() => ({ speed, skipInactive, startAtMs }), [speed, skipInactive, startAtMs]);
  const { host, ready } = useReplayerHost(frameRef, hostSetup, {
    playing: (on, at) => started(on, at),
    finished: () => onFinished?.(),
    skipping: setSkipping,
  });
  const { loadedMs, empty } = useFeeding(host, chunks, streamed);
  const status = recording.isError || empty ? "error" : streamed ? "done" : chunks?.length ? "streaming" : "connecting";
  // Until the stream ends the summary's duration sizes the timeline; then the events themselves do.
  const total = streamed ? Math.max(loadedMs, 1) : Math.max(loadedMs, durationHintMs, 1);
  const { playing, current, seek, toggle, started } = usePlayback(host, total);

  useEffect(() => host.current?.setConfig({ speed }), [host, speed]);
  useEffect(() => host.current?.setConfig({ skipInactive }), [host, skipInactive]);
  useFitted(frameRef, host, actualSize);

  const shortcuts = useMemo(
    () =>
      playerShortcuts({
        toggle,
        seekBy: (ms) => seek(current + ms),
        speedBy: (step) => setSpeed((s) => nextSpeed(s, step)),
        toggleActualSize: () => setActualSize((v) => !v),
      }),
    [toggle, seek, current],
  );
  const { helpOpen, closeHelp } = useShortcuts(shortcuts, ready);

  const markers = useMarkers(chunks, frustrations);
  // Thousands of click ticks would bury the timeline (and the DOM); past a
  // bound show only the markers that matter.
  const timelineMarkers = useMemo(() => {
    const clicks = markers.filter((m) => m.kind === "click").length;
    return clicks > MAX_CLICK_TICKS ? markers.filter((m) => m.kind !== "click") : markers;
  }, [markers]);
  const listed = useMemo(() => markers.filter((m) => showClicks || m.kind !== "click"), [markers, showClicks]);
  const shared = useMemo(() => sharedPrefix(markers.filter((m) => m.kind === "page").map((m) => m.label)), [markers]);
  const activeIndex = useMemo(() => {
    let idx = -1;
    listed.forEach((m, i) => {
      if (m.offset <= current + 50) idx = i;
    });
    return idx;
  }, [listed, current]);
  const jump = (m: Marker) => seek(m.kind === "page" ? m.offset : m.offset - 800);

  return (
    <div className="player" data-testid="replay-player" data-status={status} data-ready={ready ? "1" : "0"}>
      <div className="player-stage">
        <div className="player-frame" ref={frameRef} data-testid="replay-frame" style={actualSize ? { overflow: "auto" } : undefined} />
        {!ready && !empty && !recording.error && (
          <div className="player-overlay">
            <span className="spinner-dot" /> Loading recording…
          </div>
        )}
        {skipping && <div className="player-skip">Skipping inactivity…</div>}
        {(empty || recording.error) && (
          <div className="player-overlay">{empty || isMissing(recording.error) ? <ErrorBox error={NO_DATA} /> : <QueryStatus query={recording} />}</div>
        )}
      </div>
      <Timeline total={total} current={current} loadedMs={loadedMs} markers={timelineMarkers} onSeek={seek} onMarker={jump} />
      <div className="controls">
        <button className="btn btn-primary play-btn" onClick={toggle} disabled={!ready} data-testid="play-pause" aria-label={playing ? "Pause" : "Play"}>
          {playing ? "❚❚" : "▶"}
        </button>
        <button className="btn btn-small" onClick={() => seek(current - 10_000)} disabled={!ready} title="Back 10 s (←: 5 s, ? lists the keys)">
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
            {listed.length === 0 && (
              <p className="muted small side-pad" data-testid="event-list-empty">
                {status === "done" ? "No pages or events recorded." : status === "error" ? "No pages or events to show." : "…"}
              </p>
            )}
            <ol>
              {listed.map((m, i) => (
                <li key={`${m.kind}-${m.time}-${i}`} className={`event-item event-${m.kind} ${i === activeIndex ? "event-active" : ""}`}>
                  <button onClick={() => jump(m)} data-testid="event-list-item" data-kind={m.kind} title={m.detail ?? m.label}>
                    <span className="event-time">{formatClock(m.offset)}</span>
                    <span className={`event-icon icon-${m.kind}`} aria-hidden />
                    <span className="event-label">
                      {m.kind === "page" ? (
                        <PathText path={m.label} shared={shared} title={null} />
                      ) : (
                        <>
                          {m.kind !== "click" && <em>{MARKER_LABELS[m.kind]}: </em>}
                          {m.label}
                        </>
                      )}
                    </span>
                  </button>
                </li>
              ))}
            </ol>
          </div>
        )}
      </aside>
      {helpOpen && <ShortcutHelp shortcuts={shortcuts} onClose={closeHelp} />}
    </div>
  );
}

/** useFitted keeps the replay fitted to its frame (or 1:1) as the frame resizes. */
function useFitted(frame: React.RefObject<HTMLElement | null>, host: ReturnType<typeof useReplayerHost>["host"], actualSize: boolean) {
  const fit = useCallback(() => host.current?.fit(actualSize), [host, actualSize]);
  useEffect(() => {
    fit();
    const el = frame.current;
    if (!el) return;
    const ro = new ResizeObserver(fit);
    ro.observe(el);
    return () => ro.disconnect();
  }, [frame, fit]);
}
