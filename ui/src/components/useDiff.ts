import { useEffect, useState } from "react";
import { api, type DiffGranularity, type DiffView } from "../api";

// Diffs are computed by the backend on full outputs and cached per pair for the session.
const cache = new Map<string, Promise<DiffView>>();

export function diffOf(baseline: number, other: number, granularity: DiffGranularity): Promise<DiffView> {
  const key = `${baseline}:${other}:${granularity}`;
  let pending = cache.get(key);
  if (!pending) {
    pending = api.diffRuns(baseline, other, granularity);
    pending.catch(() => cache.delete(key));
    cache.set(key, pending);
  }
  return pending;
}

export function useDiff(baseline: number | null, other: number | null, granularity: DiffGranularity) {
  const [diff, setDiff] = useState<{ key: string; view: DiffView } | null>(null);
  const key = baseline !== null && other !== null ? `${baseline}:${other}:${granularity}` : null;
  useEffect(() => {
    if (baseline === null || other === null || key === null) return;
    let live = true;
    diffOf(baseline, other, granularity)
      .then((view) => {
        if (live) setDiff({ key, view });
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [baseline, other, granularity, key]);
  return diff && diff.key === key ? diff.view : null;
}
