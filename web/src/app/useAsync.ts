import { useCallback, useEffect, useRef, useState } from "react";
import { onApiEvent } from "../api/client";

export interface AsyncState<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
  setData: (v: T) => void;
}

/** useOnRecovered runs fn when the API answers again after an outage. */
export function useOnRecovered(fn: () => void) {
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => onApiEvent((e) => e.type === "recovered" && latest.current()), []);
}

/**
 * useAsync runs fn when deps change and keeps only the latest answer. When
 * the API comes back after an outage it runs fn again: quietly (no spinner)
 * when it already has data, so what was on screen stays until the new answer.
 */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const gen = useRef(0);
  const quiet = useRef(false);
  const hasData = useRef(false);
  useEffect(() => {
    const mine = ++gen.current;
    if (!quiet.current || !hasData.current) setLoading(true);
    quiet.current = false;
    setError(undefined);
    fn().then(
      (v) => {
        if (gen.current !== mine) return;
        hasData.current = true;
        setData(v);
        setLoading(false);
      },
      (e: unknown) => {
        if (gen.current !== mine) return;
        setError(e instanceof Error ? e : new Error(String(e)));
        setLoading(false);
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const set = useCallback((v: T) => {
    hasData.current = true;
    setData(v);
  }, []);
  useOnRecovered(() => {
    quiet.current = true;
    reload();
  });
  return { data, error, loading, reload, setData: set };
}
