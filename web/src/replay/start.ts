/**
 * startOffset answers where the player opens: ?t= seconds, or ?at= (ms
 * since the epoch) less the session's start — undefined while that start is
 * still loading (the player waits rather than restart at the moment), 0 when
 * it cannot be known.
 */
export function startOffset(t: string | null, atMs: number, sessionStart: string | undefined, failed: boolean): number | undefined {
  if (!Number.isFinite(atMs)) return Math.max(0, Number(t ?? 0) * 1000) || 0;
  const start = sessionStart ? Date.parse(sessionStart) : NaN;
  if (Number.isFinite(start)) return Math.max(0, atMs - start);
  return failed ? 0 : undefined;
}
