import { useCallback, useEffect, useState, type RefObject } from "react";
import type { ReplayerHost } from "./host";

/**
 * usePlayback is the timeline's state: whether the replay plays and its
 * clock (read from the replayer each frame while playing), with seek and
 * play/pause.
 */
export function usePlayback(host: RefObject<ReplayerHost | null>, total: number) {
  const [playing, setPlaying] = useState(false);
  const [current, setCurrent] = useState(0);

  useEffect(() => {
    if (!playing) return;
    let raf = 0;
    const tick = () => {
      const r = host.current?.player;
      if (r) setCurrent(Math.min(r.getCurrentTime(), total));
      raf = requestAnimationFrame(tick);
    };
    raf = requestAnimationFrame(tick);
    return () => cancelAnimationFrame(raf);
  }, [host, playing, total]);

  const seek = useCallback(
    (ms: number) => {
      const t = Math.max(0, Math.min(ms, total));
      setCurrent(t);
      const r = host.current?.player;
      if (!r) return;
      if (playing) r.play(t);
      else r.pause(t);
    },
    [host, playing, total],
  );

  const toggle = useCallback(() => {
    const r = host.current?.player;
    if (!r) return;
    if (playing) {
      r.pause();
      setPlaying(false);
      return;
    }
    r.play(current >= total - 100 ? 0 : current);
    setPlaying(true);
  }, [host, playing, current, total]);

  /** started is the host's word that it plays (from at) or stopped. */
  const started = useCallback((on: boolean, at?: number) => {
    setPlaying(on);
    if (at !== undefined) setCurrent(at);
  }, []);

  return { playing, current, seek, toggle, started };
}
