// The recording as a streamed query: GET .../recording is NDJSON, read chunk
// by chunk (lib/ndjson) with each chunk's captured assets rewritten to our
// copies before it is handed on, so the Player can feed the replayer as the
// chunks arrive.
// streamedQuery is exported as experimental_ in 5.108.
import { experimental_streamedQuery as streamedQuery, useQuery } from "@tanstack/react-query";
import { api, toApiError, unwrap } from "../api/client";
import { readRecording, type RecordingChunk } from "../lib/ndjson";
import { AssetRewriter } from "./assets";
import { withBase } from "../lib/base";

/** recordingKey is the query key of one recording's chunks. */
export const recordingKey = (siteId: string, sessionId: string) => ["recording", siteId, sessionId] as const;

/**
 * streamRecording yields the recording's non-empty chunks, their asset URLs
 * rewritten; from startOffset (a protojson duration such as "12.5s"), from
 * the last chunk with a full snapshot at or before it.
 */
export async function* streamRecording(siteId: string, sessionId: string, signal?: AbortSignal, startOffset?: string): AsyncGenerator<RecordingChunk> {
  const { data, error, response } = await api.GET("/api/v1/sites/{siteId}/sessions/{sessionId}/recording", {
    params: { path: { siteId, sessionId }, query: startOffset ? { startOffset } : undefined },
    parseAs: "stream",
    signal,
  });
  if (!response.ok || !data) throw toApiError(error, response);
  const assets = new AssetRewriter(
    async (urls) => (await unwrap(api.POST("/api/v1/sites/{siteId}/assets:lookup", { params: { path: { siteId } }, body: { urls } }))).assets ?? [],
    (hash) => withBase(`/api/v1/sites/${encodeURIComponent(siteId)}/assets/${hash}`),
  );
  for await (const chunk of readRecording(data)) {
    if (chunk.events.length === 0) continue;
    await assets.prepare(chunk.events);
    yield chunk;
  }
}

/**
 * useRecording streams a recording into an array of chunks that grows as
 * they arrive. It is read once per visit of the page: never stale while
 * open (a background refetch would restart the replay), dropped on leaving
 * (recordings are large). A refetch (Retry, or the re-read after an outage)
 * replaces the chunks only once the new stream has ended, so a replay fed
 * the first ones just receives the rest.
 */
export function useRecording(siteId: string, sessionId: string) {
  return useQuery({
    queryKey: recordingKey(siteId, sessionId),
    queryFn: streamedQuery({ streamFn: ({ signal }) => streamRecording(siteId, sessionId, signal), refetchMode: "replace" }),
    staleTime: Infinity,
    gcTime: 0,
    refetchOnWindowFocus: false,
    refetchOnReconnect: false,
  });
}
