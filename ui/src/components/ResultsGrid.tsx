import { memo, useRef } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import type { Cell, DiffGranularity, ResultsView } from "../api";
import { configLabel, ms, num, percent } from "../format";
import { useDiff } from "../queries";
import { DiffText } from "./DiffText";
import { useGridPages } from "./useGridPages";

export interface GridProps {
  results: ResultsView;
  repetition: number;
  baseline: number | null;
  granularity: DiffGranularity;
  selected: number[];
  onSelect: (cell: Cell) => void;
}

/** Rows are cases, columns are configs; rows are virtualized so tens of thousands of runs scroll.
 * Memoized: progress updates of a running experiment must not re-render the grid (rendering
 * competes with inference for the same cores). */
export const ResultsGrid = memo(function ResultsGrid({ results, repetition, baseline, granularity, selected, onSelect }: GridProps) {
  const parent = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({
    count: results.cases.length,
    getScrollElement: () => parent.current,
    estimateSize: () => 150,
    overscan: 4,
    // Render a first screenful before the scroll container has been measured.
    initialRect: { width: 1200, height: 800 },
  });
  const visible = rows.getVirtualItems();
  const byKey = useGridPages(
    results,
    repetition,
    visible.length > 0 ? visible[0].index : 0,
    visible.length > 0 ? visible[visible.length - 1].index : 0,
  );
  const columns = `minmax(110px, 140px) repeat(${results.configs.length}, minmax(260px, 1fr))`;

  return (
    <div className="grid-scroll" ref={parent} data-testid="results-grid">
      <div className="grid-row grid-header" style={{ gridTemplateColumns: columns }}>
        <div className="grid-corner">case</div>
        {results.configs.map((c) => (
          <div key={c.index} className={`grid-col-head${baseline === c.index ? " is-baseline" : ""}`}>
            {configLabel(c)}
            {baseline === c.index && <span className="badge baseline-badge">baseline</span>}
          </div>
        ))}
      </div>
      <div style={{ height: rows.getTotalSize(), position: "relative" }}>
        {visible.map((row) => (
          <div
            key={row.key}
            ref={rows.measureElement}
            data-index={row.index}
            className="grid-row"
            style={{ gridTemplateColumns: columns, position: "absolute", top: 0, left: 0, right: 0, transform: `translateY(${row.start}px)` }}
          >
            <div className="grid-case">{results.cases[row.index]}</div>
            {results.configs.map((c) => {
              const cell = byKey.get(`${row.index}:${c.index}`);
              const base = baseline === null ? undefined : byKey.get(`${row.index}:${baseline}`);
              return (
                <GridCell
                  key={c.index}
                  cell={cell}
                  baselineCell={baseline !== null && baseline !== c.index ? base : undefined}
                  granularity={granularity}
                  selected={cell ? selected.includes(cell.run_id) : false}
                  onSelect={onSelect}
                />
              );
            })}
          </div>
        ))}
      </div>
    </div>
  );
});

/** The failed checks by kind (`json_valid, contains`), the whole reasons in the badge's title. */
function failedLabel(failed: string[]): string {
  if (failed.length === 0) return "✗ failed";
  // A failure reads `<kind> <parameters>: <reason>`, and parameters may hold colons of their own.
  const kinds = failed.map((f) => /^[a-z_]+/.exec(f)?.[0] ?? f);
  const shown = kinds.slice(0, 2).join(", ");
  return `✗ ${shown}${kinds.length > 2 ? ` +${kinds.length - 2}` : ""}`;
}

function GridCell({
  cell,
  baselineCell,
  granularity,
  selected,
  onSelect,
}: {
  cell: Cell | undefined;
  baselineCell: Cell | undefined;
  granularity: DiffGranularity;
  selected: boolean;
  onSelect: (cell: Cell) => void;
}) {
  const comparable = cell && baselineCell && !cell.error && !baselineCell.error;
  const diff = useDiff(comparable ? baselineCell.run_id : null, comparable ? cell.run_id : null, granularity).data ?? null;
  if (!cell) return <div className="grid-cell pending">waiting…</div>;
  return (
    <div
      className={`grid-cell${selected ? " selected" : ""}${cell.error ? " failed" : ""}`}
      data-run-id={cell.run_id}
      onClick={() => onSelect(cell)}
      title="Click two cells to compare them side by side"
    >
      <div className="cell-output">
        {cell.error ? (
          <span className="cell-error">{`${cell.error.class}: ${cell.error.message}`}</span>
        ) : cell.complete && cell.preview === "" ? (
          // Nothing was generated: said as such, never as the baseline struck through, which would
          // read like output (the similarity badge still says how far it is from the baseline).
          <span className="empty-output">(empty)</span>
        ) : diff ? (
          <DiffText diff={diff} />
        ) : (
          <span>{cell.preview || "(empty)"}</span>
        )}
        {!cell.complete && !diff && <span className="truncated">…</span>}
      </div>
      <div className="badges">
        {cell.passed !== null && (
          <span
            className={`badge ${cell.passed ? "check-pass" : "check-fail"}`}
            title={cell.passed ? "passed every check" : cell.failed_checks.join("\n") || "failed"}
          >
            {cell.passed ? "✓ checks" : failedLabel(cell.failed_checks)}
          </span>
        )}
        {cell.cache_hit ? (
          // No call was made: the original run's timings are not this cell's, and are not shown.
          <span className="badge cache-hit" title="answered from the response cache: no call, no cost, not in the statistics">
            cached
          </span>
        ) : (
          <>
            <span className="badge" title="latency">{ms(cell.metrics?.latency_ms)}</span>
            <span className="badge" title="time to first token">TTFT {ms(cell.metrics?.ttft_ms)}</span>
            <span className="badge" title="generation tokens per second">{num(cell.gen_tokens_per_s)} tok/s</span>
            {cell.metrics?.contended && (
              <span
                className="badge contended"
                title={`other programs kept ${num(cell.metrics.other_cpu_cores)} cores busy during this run, more than it left free: its timings include the machine's load`}
              >
                contended
              </span>
            )}
          </>
        )}
        <span className="badge" title="input / output tokens">
          {cell.metrics?.input_tokens ?? "—"}→{cell.metrics?.output_tokens ?? "—"} tok
        </span>
        {diff && (
          <span className="badge similarity" title="similarity to the baseline cell">
            ≈ {percent(diff.similarity)}
          </span>
        )}
      </div>
    </div>
  );
}
