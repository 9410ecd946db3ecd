// The realtime figures' feed: the gateway's server-sent events
// (GET …/traffic/realtime:stream, a GetRealtimeResponse every few seconds),
// falling back to polling GET …/traffic/realtime every 5 s while the stream
// fails, and trying the stream again now and then.
import { useEffect, useState } from "react";
import { api, unwrap, type Schemas } from "../api/client";
import { withBase } from "../lib/base";

export type Realtime = Schemas["v1GetRealtimeResponse"];

export const POLL_MS = 5_000;
/** After this many polls the stream is tried again (it may have been a gateway restart). */
const POLLS_BEFORE_RETRY = 12;

/** parseEvent reads one event's data: the response itself, or wrapped as {result: …} by a gRPC-gateway style stream. */
export function parseEvent(data: string): Realtime | undefined {
  try {
    const v = JSON.parse(data) as unknown;
    if (!v || typeof v !== "object") return undefined;
    const o = v as Record<string, unknown>;
    const r = (o.result && typeof o.result === "object" ? o.result : o) as Realtime;
    if (r.visitors === undefined && r.asOf === undefined && r.perMinute === undefined && r.pages === undefined) return undefined;
    return r;
  } catch {
    return undefined;
  }
}

export type FeedMode = "connecting" | "live" | "polling";

export function useRealtime(siteId: string): { data?: Realtime; mode: FeedMode; error?: unknown } {
  const [data, setData] = useState<Realtime>();
  const [mode, setMode] = useState<FeedMode>("connecting");
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    if (!siteId) return;
    let stopped = false;
    let es: EventSource | undefined;
    let timer: number | undefined;
    let polls = 0;
    const poll = async () => {
      if (stopped) return;
      try {
        const r = await unwrap(api.GET("/api/v1/sites/{siteId}/traffic/realtime", { params: { path: { siteId } } }));
        if (stopped) return;
        setData(r);
        setError(undefined);
      } catch (e) {
        if (!stopped) setError(e);
      }
      if (stopped) return;
      if (++polls >= POLLS_BEFORE_RETRY) {
        polls = 0;
        connect();
        return;
      }
      timer = window.setTimeout(poll, POLL_MS);
    };
    const onData = (ev: MessageEvent<string>) => {
      const r = parseEvent(ev.data);
      if (!r) return;
      setData(r);
      setMode("live");
      setError(undefined);
    };
    const connect = () => {
      if (stopped) return;
      if (typeof EventSource === "undefined") {
        setMode("polling");
        void poll();
        return;
      }
      es = new EventSource(withBase(`/api/v1/sites/${encodeURIComponent(siteId)}/traffic/realtime:stream`), { withCredentials: true });
      es.onmessage = onData;
      es.addEventListener("realtime", onData as EventListener);
      es.onerror = () => {
        // The browser would reconnect by itself, but a 4xx/5xx stream does
        // not come back soon: poll instead, and try the stream later.
        es?.close();
        es = undefined;
        if (stopped) return;
        setMode("polling");
        polls = 0;
        void poll();
      };
    };
    connect();
    return () => {
      stopped = true;
      es?.close();
      if (timer) window.clearTimeout(timer);
    };
  }, [siteId]);
  return { data, mode, error };
}
