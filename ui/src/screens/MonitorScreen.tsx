import { useState } from "react";
import { CartesianGrid, Line, LineChart, ReferenceArea, ReferenceLine, Tooltip, XAxis, YAxis } from "recharts";
import { errorText, type Monitor, type MonitorWindow, type TrendPoint } from "../api";
import { dollars } from "../format";
import { useMonitor } from "../queries";

const WINDOWS: { window: MonitorWindow; label: string }[] = [
  { window: "hour", label: "1 h" },
  { window: "day", label: "24 h" },
  { window: "week", label: "7 d" },
];

const BLUE = "#1f6fb2";
const ORANGE = "#c2410c";
const BAND = "#1f6fb2";

/** A served winner's traffic over time (`tradeoff serve` logs it), against what the winner was
 * measured at: latency and TTFT with the measured p50–p95 as a band, errors, tokens, cost, and
 * the canary's pass rate with the measured interval. */
export function MonitorScreen() {
  const [window, setWindow] = useState<MonitorWindow>("hour");
  const [deployment, setDeployment] = useState<number | null>(null);
  const monitor = useMonitor(deployment, window);
  const view = monitor.data;
  return (
    <section className="monitor" data-testid="monitor">
      <h2>Monitor</h2>
      {monitor.error && (
        <p className="error" role="alert">
          {errorText(monitor.error)}
        </p>
      )}
      {view && view.deployments.length === 0 && (
        <p className="muted" data-testid="monitor-empty">
          No served winner has logged traffic in this database yet. Export a winner (the Winner tab), then run{" "}
          <code>tradeoff serve winner.json</code>: every request it answers shows here.
        </p>
      )}
      {view && view.deployments.length > 0 && (
        <>
          <div className="monitor-controls">
            <label>
              deployment{" "}
              <select
                value={view.deployment ?? ""}
                onChange={(e) => setDeployment(Number(e.target.value))}
                aria-label="deployment"
              >
                {view.deployments.map((d) => (
                  <option key={d.id} value={d.id}>
                    {d.id}: {d.label} ({d.model}){d.started_ms == null ? "" : `, since ${new Date(d.started_ms).toLocaleString()}`}
                  </option>
                ))}
              </select>
            </label>
            {WINDOWS.map((w) => (
              <button key={w.window} className={w.window === window ? "active" : ""} onClick={() => setWindow(w.window)}>
                {w.label}
              </button>
            ))}
          </div>
          <MonitorCharts view={view} window={window} />
        </>
      )}
    </section>
  );
}

function MonitorCharts({ view, window }: { view: Monitor; window: MonitorWindow }) {
  const points = view.points;
  const requests = points.reduce((sum, p) => sum + p.requests, 0);
  const m = view.measured;
  return (
    <>
      <p className="muted" data-testid="monitor-summary">
        {requests} requests in the last {WINDOWS.find((w) => w.window === window)?.label}; bands: the winner as measured
        {m.latency_p50_ms != null && m.latency_p95_ms != null && ` (latency p50–p95 ${m.latency_p50_ms.toFixed(0)}–${m.latency_p95_ms.toFixed(0)} ms)`}
      </p>
      <div className="charts-row">
        <Trend
          title="Latency p50 / p95 (ms)"
          points={points}
          lines={[
            ["latency_p50_ms", BLUE],
            ["latency_p95_ms", ORANGE],
          ]}
          band={[m.latency_p50_ms, m.latency_p95_ms]}
        />
        <Trend
          title="Time to first token p50 / p95 (ms)"
          points={points}
          lines={[
            ["ttft_p50_ms", BLUE],
            ["ttft_p95_ms", ORANGE],
          ]}
          band={[m.ttft_p50_ms, m.ttft_p95_ms]}
        />
        <Trend title="Error rate" points={points} lines={[["error_rate", ORANGE]]} format={percent} rate />
        <Trend
          title="Tokens per request (in / out)"
          points={points}
          lines={[
            ["input_tokens_mean", BLUE],
            ["output_tokens_mean", ORANGE],
          ]}
        />
        <Trend title="Cost per hour" points={points} lines={[["cost_per_hour_usd", BLUE]]} format={(v) => dollars(v)} />
        <Trend
          title="Canary pass rate"
          points={points}
          lines={[["canary_pass_rate", BLUE]]}
          band={[m.pass_rate_low, m.pass_rate_high]}
          format={percent}
          rate
        />
      </div>
    </>
  );
}

type Figure = keyof Omit<TrendPoint, "at_ms" | "requests">;

const percent = (v: number) => `${(v * 100).toFixed(0)}%`;

function Trend({
  title,
  points,
  lines,
  band,
  format,
  rate = false,
}: {
  title: string;
  points: TrendPoint[];
  lines: [Figure, string][];
  band?: [number | null, number | null];
  format?: (v: number) => string;
  /** A share: drawn from 0 to 100 %. */
  rate?: boolean;
}) {
  const present = points.some((p) => lines.some(([key]) => p[key] != null));
  const time = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return (
    <figure className="chart" data-testid="monitor-chart">
      <figcaption>{title}</figcaption>
      {!present ? (
        <p className="muted chart-note">nothing in this window</p>
      ) : (
        <LineChart width={420} height={200} data={points} margin={{ top: 10, right: 20, bottom: 10, left: 10 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="at_ms" type="number" domain={["dataMin", "dataMax"]} tickFormatter={time} scale="time" />
          <YAxis tickFormatter={format} width={76} domain={rate ? [0, 1] : [0, "auto"]} />
          {band && band[0] != null && band[1] != null && (
            <>
              <ReferenceArea y1={band[0]} y2={band[1]} fill={BAND} fillOpacity={0.12} ifOverflow="extendDomain" />
              {/* The edges too: a band whose ends meet is still a line to compare with. */}
              <ReferenceLine y={band[0]} stroke={BAND} strokeDasharray="4 3" ifOverflow="extendDomain" />
              <ReferenceLine y={band[1]} stroke={BAND} strokeDasharray="4 3" ifOverflow="extendDomain" />
            </>
          )}
          {lines.map(([key, color]) => (
            // Dots: a minute with traffic between quiet ones is a point, not a line.
            <Line key={key} type="monotone" dataKey={key} stroke={color} dot={{ r: 2.5, fill: color }} connectNulls={false} isAnimationActive={false} />
          ))}
          <Tooltip labelFormatter={(v) => new Date(Number(v)).toLocaleString()} formatter={(v) => (format ? format(Number(v)) : Number(v).toFixed(2))} />
        </LineChart>
      )}
    </figure>
  );
}
