/** Data loading for pages: one async call, re-run when its inputs change or on demand. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { toFailure, type ApiFailure } from './api';

export interface Loaded<T> {
  data: T | undefined;
  failure: ApiFailure | undefined;
  loading: boolean;
  reload(): void;
}

/**
 * Runs `load` now and whenever `deps` change; `refreshMs` re-runs it on a
 * timer (live refresh), keeping the last data on screen while loading.
 */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[], refreshMs?: number): Loaded<T> {
  const [data, setData] = useState<T>();
  const [failure, setFailure] = useState<ApiFailure>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    const mine = ++seq.current;
    setLoading(true);
    loadRef.current().then(
      (value) => {
        if (mine !== seq.current) return;
        setData(value);
        setFailure(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (mine !== seq.current) return;
        setFailure(toFailure(err));
        setLoading(false);
      },
    );
  }, [...deps, tick]);

  useEffect(() => {
    if (!refreshMs) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') setTick((t) => t + 1);
    }, refreshMs);
    return () => clearInterval(timer);
  }, [refreshMs]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, failure, loading, reload };
}
