import { useDeferredValue, useMemo } from "react";
import type { RecordingChunk } from "../lib/ndjson";
import { extractMarkers, type Frustration, type Marker } from "../lib/timeline";

/** markersOf derives the timeline's markers from the chunks that arrived: each chunk starts at its first event. */
export function markersOf(chunks: readonly RecordingChunk[], frustrations?: readonly Frustration[]): Marker[] {
  const pageViews = chunks.map((c) => ({ id: c.pageViewId, time: c.events.reduce((t, e) => Math.min(t, e.timestamp), Infinity) }));
  return extractMarkers(
    chunks.flatMap((c) => c.events),
    { pageViews, frustrations },
  );
}

/**
 * useMarkers is markersOf for the chunks so far. Deriving is linear in the
 * events, so while chunks stream in it follows them deferred: React skips to
 * the latest chunks instead of re-deriving for each.
 */
export function useMarkers(chunks: readonly RecordingChunk[] | undefined, frustrations?: readonly Frustration[]): Marker[] {
  const deferred = useDeferredValue(chunks);
  return useMemo(() => (deferred?.length ? markersOf(deferred, frustrations) : []), [deferred, frustrations]);
}
