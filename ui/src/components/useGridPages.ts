import { useEffect, useRef, useState } from "react";
import { api, type Cell, type ResultsView } from "../api";

/** Cases per page: a few screens of the grid. */
export const PAGE_CASES = 50;

/**
 * Cells of the visible cases, loaded page by page from the backend, so an experiment of tens of
 * thousands of runs never crosses the IPC boundary at once. Pages are dropped when the results
 * (a live refresh) or the repetition change.
 */
export function useGridPages(results: ResultsView, repetition: number, firstVisible: number, lastVisible: number) {
  const generation = `${results.experiment_id}:${repetition}:${results.recorded_runs}:${results.status}`;
  const [pages, setPages] = useState<{ generation: string; cells: Map<number, Cell[]> }>({
    generation,
    cells: new Map(),
  });
  const current = pages.generation === generation ? pages.cells : new Map<number, Cell[]>();
  // Pages asked for and not yet answered, so a scroll or re-measure does not ask twice.
  const requested = useRef(new Set<string>());
  const latest = useRef(generation);
  useEffect(() => {
    latest.current = generation;
  }, [generation]);

  useEffect(() => {
    const wanted: number[] = [];
    for (let page = Math.floor(firstVisible / PAGE_CASES); page <= Math.floor(lastVisible / PAGE_CASES); page++) {
      const key = `${generation}/${page}`;
      if (!current.has(page) && !requested.current.has(key)) {
        requested.current.add(key);
        wanted.push(page);
      }
    }
    if (wanted.length === 0) return;
    Promise.all(
      wanted.map((page) =>
        api.gridPage(results.experiment_id, repetition, page * PAGE_CASES, PAGE_CASES).then((cells) => [page, cells] as const),
      ),
    )
      .then((loaded) => {
        // An answer for results that have since been refreshed is dropped.
        if (latest.current !== generation) return;
        setPages((old) => {
          const cells = new Map(old.generation === generation ? old.cells : []);
          for (const [page, pageCells] of loaded) cells.set(page, pageCells);
          return { generation, cells };
        });
      })
      .catch(() => undefined)
      .finally(() => {
        for (const page of wanted) requested.current.delete(`${generation}/${page}`);
      });
    // `current` is derived from `pages` and `generation`, both listed.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [pages, generation, firstVisible, lastVisible, results.experiment_id, repetition]);

  const byKey = new Map<string, Cell>();
  for (const cells of current.values()) for (const cell of cells) byKey.set(`${cell.case}:${cell.config}`, cell);
  return byKey;
}
