import type { Cell, ResultsView } from "../api";
import { PAGE_CASES, useGridPageQueries } from "../queries";

/**
 * Cells of the visible cases, loaded page by page from the backend, so an experiment of tens of
 * thousands of runs never crosses the IPC boundary at once. A run in progress invalidates its
 * experiment's pages as runs finish; until they are read again the cells already read stay.
 */
export function useGridPages(results: ResultsView, repetition: number, firstVisible: number, lastVisible: number) {
  const pages = useGridPageQueries(
    results.experiment_id,
    repetition,
    Math.floor(firstVisible / PAGE_CASES),
    Math.floor(lastVisible / PAGE_CASES),
  );
  const byKey = new Map<string, Cell>();
  for (const page of pages) for (const cell of page.data ?? []) byKey.set(`${cell.case}:${cell.config}`, cell);
  return byKey;
}
