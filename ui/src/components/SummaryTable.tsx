import { Fragment, memo, useMemo, useState } from "react";
import type { ComparisonView, ResultsView } from "../api";
import { dollars, ms, num, percent, verdictWord } from "../format";

type Config = ResultsView["configs"][number];
type Key = "variant" | "target" | "settings_label" | "runs" | "errors" | "pass_rate" | "latency_p50_ms" | "latency_p95_ms" | "ttft_p50_ms" | "gen_tokens_per_s_mean" | "aggregate_tokens_per_s" | "input_tokens_mean" | "output_tokens_mean" | "peak_rss_bytes_max" | "cost_per_1k_usd" | "cache_hits" | "contended_runs" | "consistency_similarity";

const COLUMNS: { key: Key; label: string; show: (c: Config) => string }[] = [
  { key: "variant", label: "variant", show: (c) => c.variant },
  { key: "target", label: "target", show: (c) => c.target },
  { key: "settings_label", label: "settings", show: (c) => c.settings_label },
  { key: "runs", label: "runs", show: (c) => String(c.runs) },
  { key: "errors", label: "errors", show: (c) => String(c.errors) },
  { key: "pass_rate", label: "pass", show: (c) => percent(c.pass_rate) },
  {
    key: "consistency_similarity",
    label: "consistency",
    show: (c) =>
      c.consistency_similarity === null ? "—" : `${c.consistency_similarity.toFixed(2)} (${percent(c.consistency_exact_rate)} same)`,
  },
  { key: "latency_p50_ms", label: "p50", show: (c) => ms(c.latency_p50_ms) },
  { key: "latency_p95_ms", label: "p95", show: (c) => ms(c.latency_p95_ms) },
  { key: "ttft_p50_ms", label: "p50 TTFT", show: (c) => ms(c.ttft_p50_ms) },
  { key: "gen_tokens_per_s_mean", label: "gen tok/s", show: (c) => num(c.gen_tokens_per_s_mean) },
  { key: "aggregate_tokens_per_s", label: "agg tok/s", show: (c) => num(c.aggregate_tokens_per_s) },
  { key: "input_tokens_mean", label: "in tok", show: (c) => num(c.input_tokens_mean) },
  { key: "output_tokens_mean", label: "out tok", show: (c) => num(c.output_tokens_mean) },
  { key: "cost_per_1k_usd", label: "$/1k req", show: (c) => dollars(c.cost_per_1k_usd) },
  { key: "peak_rss_bytes_max", label: "peak RSS", show: (c) => (c.peak_rss_bytes_max === null ? "—" : `${(c.peak_rss_bytes_max / (1 << 20)).toFixed(0)} MiB`) },
  {
    key: "cache_hits",
    label: "cached",
    show: (c) =>
      c.cache_hits === 0 ? "—" : `${c.cache_hits}${c.cache_saved_usd === null ? "" : ` (saved ${dollars(c.cache_saved_usd)})`}`,
  },
  {
    key: "contended_runs",
    label: "contended",
    show: (c) => (c.contended_runs === 0 ? "—" : `${c.contended_runs} of ${c.runs}`),
  },
];

/** Columns shown: the cache column only when some run came from the response cache, the
 * contended column only when other programs slowed some run, the consistency column only when
 * some config has repetitions to compare. */
function columnsFor(configs: Config[]) {
  return COLUMNS.filter(
    (col) =>
      (col.key !== "cache_hits" || configs.some((c) => c.cache_hits > 0)) &&
      (col.key !== "contended_runs" || configs.some((c) => c.contended_runs > 0)) &&
      (col.key !== "consistency_similarity" || configs.some((c) => c.consistency_similarity !== null)),
  );
}

/** What names a config stays in view while the table scrolls sideways, after the Export button. */
const PINNED: Partial<Record<Key, string>> = {
  variant: "pin pin-1",
  target: "pin pin-2",
  settings_label: "pin pin-3",
};

/** The comparison with the baseline sits next to the latency it is about. */
const VERSUS_AFTER: Key = "latency_p95_ms";

/** Per-config statistics, sortable by any column; each row can be exported. */
export const SummaryTable = memo(function SummaryTable({
  configs,
  comparisons,
  baseline,
  onExport,
}: {
  configs: Config[];
  /** Every config against the baseline, when one is chosen. */
  comparisons?: ComparisonView[] | null;
  baseline?: number | null;
  onExport: (config: number) => void;
}) {
  const versus = (index: number) => comparisons?.find((c) => c.config === index) ?? null;
  const [sort, setSort] = useState<{ key: Key; descending: boolean } | null>(null);
  const rows = useMemo(() => {
    if (!sort) return configs;
    const value = (c: Config) => c[sort.key];
    return [...configs].sort((a, b) => {
      const x = value(a);
      const y = value(b);
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      const order = x < y ? -1 : 1;
      return sort.descending ? -order : order;
    });
  }, [configs, sort]);
  const columns = useMemo(() => columnsFor(configs), [configs]);
  return (
    <div className="summary-scroll">
      <table className="summary" data-testid="summary-table">
        <thead>
          <tr>
            <th className="pin pin-0" />
            {columns.map((col) => (
              <Fragment key={col.key}>
                <th
                  className={PINNED[col.key]}
                  onClick={() => setSort((s) => ({ key: col.key, descending: s?.key === col.key ? !s.descending : false }))}
                  aria-sort={sort?.key === col.key ? (sort.descending ? "descending" : "ascending") : "none"}
                >
                  {col.label}
                  {sort?.key === col.key ? (sort.descending ? " ▼" : " ▲") : ""}
                </th>
                {col.key === VERSUS_AFTER && comparisons && (
                  <th title="median latency minus the baseline's, with its 95 % bootstrap interval">vs baseline</th>
                )}
              </Fragment>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((c) => (
            <tr
              key={c.index}
              data-config={c.index}
              className={c.eliminated ? "eliminated" : undefined}
              title={c.eliminated ? `dropped by the search in round ${c.eliminated.round}: ${c.eliminated.reason}` : undefined}
            >
              <td className="pin pin-0">
                <button className="export-button" onClick={() => onExport(c.index)} disabled={c.runs === c.errors}>
                  Export
                </button>
              </td>
              {columns.map((col) => (
                <Fragment key={col.key}>
                  <td className={PINNED[col.key]} title={PINNED[col.key] ? col.show(c) : undefined}>
                    {col.show(c)}
                  </td>
                  {col.key === VERSUS_AFTER && comparisons && (
                    <td className="versus">{c.index === baseline ? "baseline" : versusText(versus(c.index))}</td>
                  )}
                </Fragment>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
});

/** `−95 ms [−120, −70] faster`: the difference, its interval, and what the interval allows saying. */
function versusText(comparison: ComparisonView | null): string {
  if (!comparison) return "—";
  const d = comparison.latency;
  if (d.estimate_ms === null || d.low_ms === null || d.high_ms === null) return verdictWord(d.verdict);
  const signed = (v: number) => `${v > 0 ? "+" : v < 0 ? "−" : ""}${Math.abs(v).toFixed(0)}`;
  return `${signed(d.estimate_ms)} ms [${signed(d.low_ms)}, ${signed(d.high_ms)}] ${verdictWord(d.verdict)}`;
}
