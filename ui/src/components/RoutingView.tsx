import { useMemo, useState } from "react";
import { CartesianGrid, LabelList, Scatter, ScatterChart, Tooltip, XAxis, YAxis } from "recharts";
import { api, type ResultsView, type Routing, type RoutingOutcome } from "../api";
import { dollars } from "../format";
import { useExportPolicies, useRouting } from "../queries";
import { CascadeBuilder } from "./CascadeBuilder";
import { newStage, policySpec, type CascadeDraft } from "./cascade";
import { niceTicks } from "./chartTicks";
import { PointTooltip } from "./TradeoffCharts";
import { ErrorNote } from "./ErrorNote";
import { Waiting } from "./Waiting";

type Estimate = RoutingOutcome["pass_rate"];

/** Routing on the recorded runs: the experiment file's policies and one built here, beside every
 * config alone, with 95 % intervals over cases, the cascade's threshold curve and its export. */
export function RoutingView({ results, active = true }: { results: ResultsView; active?: boolean }) {
  const id = results.experiment_id;
  const [draft, setDraft] = useState<CascadeDraft>(() => firstDraft(results.configs));
  // What is simulated: the built cascade as last submitted ("" until then: the file's own).
  const [extra, setExtra] = useState("");
  const routing = useRouting(id, extra, active);
  const exporter = useExportPolicies();
  const [note, setNote] = useState<string | null>(null);
  // Why the last export failed: the dialog, the path allowed, or the policy refused.
  const [exportError, setExportError] = useState<unknown>(null);
  const spec = () => JSON.stringify([policySpec(draft, results.configs)]);

  const exportTo = async (choose: boolean) => {
    setNote(null);
    setExportError(null);
    try {
      const suggested = await api.defaultPolicyPath(id);
      const path = choose ? await api.pickSavePath(suggested) : suggested;
      if (path === null) return;
      const written = await exporter.mutateAsync({ id, policies: spec(), path });
      setNote(`Wrote ${written}: use it with tradeoff route ${id} --policy ${written}, or paste it under policies: in the experiment file`);
    } catch (e) {
      setExportError(e);
    }
  };

  return (
    <section className="routing" data-testid="routing">
      <p className="muted">
        What a cascade would have scored, cost and taken on these recorded runs, without a model call: each request goes through the
        stages using the run recorded for each stage&apos;s config. Conditions use only what a deployment knows when it answers (never
        the expected output). Intervals are 95 % bootstrap intervals over cases.
      </p>
      <CascadeBuilder configs={results.configs} draft={draft} onChange={setDraft} />
      <div className="routing-actions">
        <button onClick={() => setExtra(spec())} disabled={draft.id.trim() === ""} data-testid="simulate-routing">
          Simulate
        </button>
        <button onClick={() => void exportTo(false)} disabled={draft.id.trim() === ""} data-testid="export-policy">
          Export policy
        </button>
        <button onClick={() => void exportTo(true)} disabled={draft.id.trim() === ""}>
          Export to…
        </button>
        {draft.id.trim() === "" && <span className="muted">name the policy to simulate or export it</span>}
      </div>
      {routing.error ? <ErrorNote error={routing.error} testId="routing-error" /> : null}
      {exportError ? <ErrorNote error={exportError} testId="export-error" /> : null}
      {note && (
        <p className="message info" role="status" data-testid="routing-note">
          {note}
        </p>
      )}
      <Waiting active={routing.isFetching} what="simulating every policy and config on the recorded runs (bootstrap intervals)" />
      {routing.data && <RoutingResults routing={routing.data} built={extra === "" ? null : draft.id.trim()} />}
    </section>
  );
}

/** Cheapest config first, the best-passing one last: the usual shape of a cascade. */
function firstDraft(configs: ResultsView["configs"]): CascadeDraft {
  const byCost = [...configs].sort((a, b) => (a.cost_per_1k_usd ?? Infinity) - (b.cost_per_1k_usd ?? Infinity));
  const byPass = [...configs].sort((a, b) => (b.pass_rate ?? -1) - (a.pass_rate ?? -1));
  const first = byCost[0]?.index ?? 0;
  const last = byPass.find((c) => c.index !== first)?.index ?? first;
  return { id: "my-cascade", stages: [{ ...newStage(first), jsonValid: true }, newStage(last)] };
}

function RoutingResults({ routing, built }: { routing: Routing; built: string | null }) {
  const rows = [...routing.policies, ...routing.configs];
  return (
    <>
      <div className="routing-scroll">
        <table className="summary routing-table" data-testid="routing-table">
          <thead>
            <tr>
              <th>policy / config</th>
              <th>kind</th>
              <th>pass rate</th>
              <th>$/1k req</th>
              <th>p50 ms</th>
              <th>p95 ms</th>
              <th>TTFT p50 ms</th>
              <th>answered by</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={`${row.kind}:${row.id}`} className={row.id === built && row.kind !== "config" ? "built" : ""} data-testid="routing-row">
                <td>{row.id}</td>
                <td>{row.kind}</td>
                {row.incomplete ? (
                  <td colSpan={6} className="cell-error">
                    {row.incomplete}
                  </td>
                ) : (
                  <>
                    <td>{interval(row.pass_rate, (v) => `${(v * 100).toFixed(0)}%`)}</td>
                    <td>{interval(row.cost_per_1k_usd, dollars)}</td>
                    <td>{interval(row.latency_p50_ms, (v) => v.toFixed(0))}</td>
                    <td>{interval(row.latency_p95_ms, (v) => v.toFixed(0))}</td>
                    <td>{interval(row.ttft_p50_ms, (v) => v.toFixed(0))}</td>
                    <td className="stages">
                      {row.stages.length > 1 &&
                        row.stages.map((s) => (
                          <div key={s.stage}>
                            {s.stage}: {((s.share ?? 0) * 100).toFixed(0)}%
                          </div>
                        ))}
                    </td>
                  </>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <RoutingChart routing={routing} built={built} />
      {(routing.sweeps ?? []).map((sweep) =>
        sweep.picked ? (
          <p key={sweep.policy} className="muted" data-testid="sweep-pick">
            {sweep.policy}: the cheapest confidence threshold keeping {percent(sweep.min_pass_rate)} is {sweep.picked.in_sample.threshold?.toFixed(3)}
            , with {percent(sweep.picked.in_sample.pass_rate)} in sample and {percent(sweep.picked.held_out.pass_rate)} on held-out cases (
            {sweep.picked.folds}-fold): expect the held-out figure on new requests.
          </p>
        ) : null,
      )}
    </>
  );
}

function percent(value: number | null | undefined): string {
  return value == null ? "—" : `${(value * 100).toFixed(0)}%`;
}

function interval(estimate: Estimate, format: (v: number) => string): string {
  if (!estimate || estimate.value == null) return "—";
  const { value, low, high } = estimate;
  return low == null || high == null ? format(value) : `${format(value)} [${format(low)}–${format(high)}]`;
}

/** Pass rate against cost: configs grey, policies blue, and each cascade's threshold curve. */
function RoutingChart({ routing, built }: { routing: Routing; built: string | null }) {
  const point = (o: RoutingOutcome) =>
    o.pass_rate?.value == null || o.cost_per_1k_usd?.value == null
      ? []
      : [{ x: o.cost_per_1k_usd.value, y: o.pass_rate.value * 100, label: o.id, text: `${percent(o.pass_rate.value)} at ${dollars(o.cost_per_1k_usd.value)} per 1k` }];
  const configs = routing.configs.flatMap(point);
  const policies = routing.policies.flatMap(point);
  const curves = useMemo(
    () =>
      (routing.sweeps ?? []).map((sweep) =>
        sweep.points
          .filter((p) => p.pass_rate != null && p.cost_per_1k_usd != null)
          .map((p) => ({ x: p.cost_per_1k_usd as number, y: (p.pass_rate as number) * 100, label: sweep.policy, text: `threshold ${p.threshold?.toFixed(3)}` }))
          .sort((a, b) => a.x - b.x),
      ),
    [routing.sweeps],
  );
  const xs = [...configs, ...policies, ...curves.flat()].map((p) => p.x);
  if (xs.length === 0) return <p className="muted chart-note">The chart needs prices and checks: cost against pass rate.</p>;
  const ticks = niceTicks(Math.min(0, ...xs), Math.max(...xs));
  return (
    <figure className="chart" data-testid="routing-chart">
      <figcaption>Pass rate against cost per 1,000 requests: configs in grey, policies in blue{built ? ` (${built} built here)` : ""}, threshold curves as lines</figcaption>
      <ScatterChart width={560} height={300} margin={{ top: 24, right: 40, bottom: 30, left: 10 }}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis
          type="number"
          dataKey="x"
          domain={[ticks[0], ticks[ticks.length - 1]]}
          ticks={ticks}
          tickFormatter={(v: number) => `$${Number(v.toPrecision(3))}`}
          label={{ value: "$ per 1k requests", position: "bottom" }}
        />
        <YAxis type="number" dataKey="y" unit="%" domain={[0, 100]} />
        <Tooltip content={<PointTooltip />} />
        {curves.map((curve, i) => (
          <Scatter key={i} data={curve} line fill="#7fb3e0" shape="circle" isAnimationActive={false} />
        ))}
        {/* Configs are named on hover: their labels are long and they crowd at equal pass rates. */}
        <Scatter name="configs" data={configs} fill="#9aa5b1" isAnimationActive={false} />
        <Scatter name="policies" data={policies} fill="#1f6fb2" isAnimationActive={false}>
          <LabelList dataKey="label" position="top" className="point-number" />
        </Scatter>
      </ScatterChart>
    </figure>
  );
}
