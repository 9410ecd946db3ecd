import { useEffect, useRef, useState, type RefObject } from "react";
import type { RecordingChunk } from "../lib/ndjson";
import { ReplayerHost, type HostCallbacks, type HostOptions } from "./host";

/**
 * useReplayerHost keeps one ReplayerHost in frame for the component's life
 * (the Player is keyed by session) and says when its replayer exists. The
 * options are read when the host is made; callbacks are always the latest.
 */
export function useReplayerHost(frame: RefObject<HTMLElement | null>, options: HostOptions, on: Omit<HostCallbacks, "ready">) {
  const host = useRef<ReplayerHost | null>(null);
  const [ready, setReady] = useState(false);
  const latest = useRef({ options, on });
  latest.current = { options, on };
  useEffect(() => {
    const h = new ReplayerHost(frame.current!, { ...latest.current.options }, {
      ready: () => setReady(true),
      playing: (playing, at) => latest.current.on.playing(playing, at),
      finished: () => latest.current.on.finished(),
      skipping: (skipping) => latest.current.on.skipping(skipping),
    });
    host.current = h;
    return () => {
      h.destroy();
      host.current = null;
      setReady(false);
    };
  }, [frame]);
  return { host, ready };
}

/**
 * useFeeding hands the host the chunks it has not had yet as they arrive,
 * and ends the feed with the stream; it answers how much has arrived and
 * whether the ended stream had nothing to replay.
 */
export function useFeeding(host: RefObject<ReplayerHost | null>, chunks: readonly RecordingChunk[] | undefined, done: boolean) {
  const [loadedMs, setLoadedMs] = useState(0);
  const [empty, setEmpty] = useState(false);
  useEffect(() => {
    const h = host.current;
    if (!h) return;
    h.feed(chunks ?? []);
    setLoadedMs(h.loadedMs);
    if (done) setEmpty(!h.end());
  }, [host, chunks, done]);
  return { loadedMs, empty };
}
