import { memo } from "react";
import { CartesianGrid, LabelList, Scatter, ScatterChart, Tooltip, XAxis, YAxis, ZAxis } from "recharts";
import type { ResultsView } from "../api";
import { configLabel } from "../format";
import { niceTicks } from "./chartTicks";

const FRONT = "#1f6fb2";
const OTHER = "#9aa5b1";

/** The two pictures of a trade-off: quality against cost (p95 latency as the bubble size, the
 * Pareto front highlighted), and every run's latency per config. Drawn again only when the
 * results change, not on every progress update of a run (the SVG is the screen's costliest). */
export const TradeoffCharts = memo(function TradeoffCharts({ results }: { results: ResultsView }) {
  return (
    <details className="charts" open data-testid="charts">
      <summary>Charts</summary>
      <div className="charts-row">
        <ParetoChart results={results} />
        <LatencyChart results={results} />
        {results.budget && <BudgetChart results={results} />}
      </div>
      <ConfigKey results={results} />
    </details>
  );
});

function ParetoChart({ results }: { results: ResultsView }) {
  const configs = results.configs;
  const hasCost = configs.some((c) => c.cost_per_1k_usd != null);
  if (!configs.some((c) => c.pass_rate != null)) {
    return <p className="muted chart-note">Quality against cost needs checks: add checks to the experiment to plot it.</p>;
  }
  const front = new Set(results.pareto_front);
  const point = (c: (typeof configs)[number]) => ({
    label: configLabel(c),
    number: `#${c.index + 1}`,
    x: hasCost ? c.cost_per_1k_usd : c.latency_p95_ms,
    y: c.pass_rate == null ? null : c.pass_rate * 100,
    z: c.latency_p95_ms ?? 0,
    text: [
      `pass rate ${((c.pass_rate ?? 0) * 100).toFixed(0)}%`,
      c.cost_per_1k_usd == null ? null : `$${c.cost_per_1k_usd.toFixed(4)} per 1k`,
      c.latency_p95_ms == null ? null : `p95 ${c.latency_p95_ms.toFixed(0)} ms`,
    ]
      .filter(Boolean)
      .join(" · "),
  });
  const plotted = configs.filter((c) => c.pass_rate != null && (hasCost ? c.cost_per_1k_usd != null : c.latency_p95_ms != null));
  const onFront = plotted.filter((c) => front.has(c.index)).map(point);
  const others = plotted.filter((c) => !front.has(c.index)).map(point);
  const xs = plotted.map((c) => (hasCost ? c.cost_per_1k_usd : c.latency_p95_ms) ?? 0);
  const ticks = niceTicks(Math.min(0, ...xs), Math.max(...xs));
  const money = (v: number) => `$${Number(v.toPrecision(3))}`;
  return (
    <figure className="chart" data-testid="pareto-chart">
      <figcaption>
        Pass rate against {hasCost ? "cost per 1,000 requests (bubble: p95 latency)" : "p95 latency (no prices)"}; Pareto front in blue
      </figcaption>
      <ScatterChart width={460} height={280} margin={{ top: 10, right: 20, bottom: 30, left: 10 }}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis
          type="number"
          dataKey="x"
          name={hasCost ? "$ per 1k requests" : "p95 latency (ms)"}
          label={{ value: hasCost ? "$ per 1k requests" : "p95 latency (ms)", position: "bottom" }}
          domain={[ticks[0], ticks[ticks.length - 1]]}
          ticks={ticks}
          tickFormatter={hasCost ? money : (v: number) => `${v}`}
        />
        <YAxis type="number" dataKey="y" name="pass rate (%)" unit="%" domain={[0, 100]} />
        <ZAxis type="number" dataKey="z" name="p95 latency (ms)" range={hasCost ? [40, 260] : [80, 80]} />
        <Tooltip content={<PointTooltip />} />
        {/* Numbered as in the key below; translucent so overlapping bubbles stay visible; not animated,
            so the numbers are there at once and a redraw costs no frames. */}
        <Scatter name="Pareto front" data={onFront} fill={FRONT} fillOpacity={0.75} isAnimationActive={false}>
          <LabelList dataKey="number" position="top" className="point-number" />
        </Scatter>
        <Scatter name="others" data={others} fill={OTHER} fillOpacity={0.75} isAnimationActive={false}>
          <LabelList dataKey="number" position="top" className="point-number" />
        </Scatter>
      </ScatterChart>
    </figure>
  );
}

const SERIES = ["#1f6fb2", "#d9822b", "#2e8540", "#8e44ad", "#c0392b", "#7f8c8d"];

/** Pass rate against the input tokens each context budget leaves, one line per variant and
 * strategy: where the line flattens is the smallest budget that keeps the quality. */
function BudgetChart({ results }: { results: ResultsView }) {
  const budget = results.budget;
  if (!budget) return null;
  const series = new Map<string, { label: string; x: number; y: number; text: string; number: string }[]>();
  results.configs.forEach((c, i) => {
    const point = budget.configs[i];
    if (!point || c.pass_rate == null || c.input_tokens_mean == null) return;
    const key = `${point.variant} · ${point.strategy}`;
    const points = series.get(key) ?? [];
    points.push({
      label: configLabel(c),
      number: `#${c.index + 1}`,
      x: c.input_tokens_mean,
      y: c.pass_rate * 100,
      text: `${budget.var}≤${point.tokens} (${point.strategy}): pass rate ${(c.pass_rate * 100).toFixed(0)}% at ${c.input_tokens_mean.toFixed(0)} input tokens`,
    });
    series.set(key, points);
  });
  if (series.size === 0) {
    return <p className="muted chart-note">The budgets have no checked runs yet.</p>;
  }
  return (
    <figure className="chart" data-testid="budget-chart">
      <figcaption>Pass rate against input tokens per {budget.var} budget (a line per variant and strategy)</figcaption>
      <ScatterChart width={460} height={280} margin={{ top: 10, right: 20, bottom: 30, left: 10 }}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis type="number" dataKey="x" name="input tokens" label={{ value: "input tokens (mean)", position: "bottom" }} />
        <YAxis type="number" dataKey="y" name="pass rate (%)" unit="%" domain={[0, 100]} />
        <Tooltip content={<PointTooltip />} />
        {[...series.entries()].map(([key, points], i) => (
          <Scatter
            key={key}
            name={key}
            data={points.sort((a, b) => a.x - b.x)}
            fill={SERIES[i % SERIES.length]}
            line
            isAnimationActive={false}
          >
            <LabelList dataKey="number" position="top" className="point-number" />
          </Scatter>
        ))}
      </ScatterChart>
      <ul className="chart-legend">
        {[...series.keys()].map((key, i) => (
          <li key={key} style={{ color: SERIES[i % SERIES.length] }}>
            {key}
          </li>
        ))}
      </ul>
    </figure>
  );
}

function LatencyChart({ results }: { results: ResultsView }) {
  // A strip per config; points spread sideways by a fixed pattern so equal latencies stay visible.
  const points = results.latencies_ms.flatMap((samples, index) =>
    samples.flatMap((latency, i) => (latency == null ? [] : [{
      x: index + (((i * 37) % 21) - 10) / 40,
      y: latency,
      label: configLabel(results.configs[index]),
      text: `${latency.toFixed(0)} ms`,
    }])),
  );
  return (
    <figure className="chart" data-testid="latency-chart">
      <figcaption>Latency of every run, per config (successful single-stream runs)</figcaption>
      <ScatterChart width={460} height={280} margin={{ top: 10, right: 20, bottom: 30, left: 10 }}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis
          type="number"
          dataKey="x"
          domain={[-0.5, results.configs.length - 0.5]}
          ticks={results.configs.map((c) => c.index)}
          tickFormatter={(v: number) => `#${v + 1}`}
          label={{ value: "config (summary row)", position: "bottom" }}
        />
        <YAxis type="number" dataKey="y" name="latency" unit=" ms" />
        <Tooltip content={<PointTooltip />} />
        <Scatter name="runs" data={points} fill={FRONT} fillOpacity={0.5} isAnimationActive={false} />
      </ScatterChart>
    </figure>
  );
}

/** Which config each number in the charts is: the summary's rows, in order, the Pareto front marked. */
function ConfigKey({ results }: { results: ResultsView }) {
  const front = new Set(results.pareto_front);
  return (
    <ol className="chart-key" data-testid="chart-key">
      {results.configs.map((c) => (
        <li key={c.index} className={front.has(c.index) ? "front" : undefined}>
          <strong>#{c.index + 1}</strong> {configLabel(c)}
          {front.has(c.index) && <span className="muted"> · Pareto front</span>}
        </li>
      ))}
    </ol>
  );
}

export function PointTooltip({ active, payload }: { active?: boolean; payload?: { payload: { label: string; text: string } }[] }) {
  if (!active || !payload?.length) return null;
  const p = payload[0].payload;
  return (
    <div className="chart-tooltip">
      {p.label}: {p.text}
    </div>
  );
}
