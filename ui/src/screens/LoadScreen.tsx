import { useState } from "react";
import { CartesianGrid, Legend, Line, LineChart, ReferenceLine, Tooltip, XAxis, YAxis } from "recharts";
import { errorText, type CapacityPlan, type LoadLevel, type LoadTest } from "../api";
import { ErrorNote } from "../components/ErrorNote";
import { dollars } from "../format";
import { useLoadTest, useLoadTests, usePlanCapacity, useRunLoadTest, useServing } from "../queries";

const ms = (value: number | null | undefined) => (value === null || value === undefined ? "—" : value.toFixed(0));

function loadOf(level: LoadLevel): string {
  if (level.concurrency !== null) return level.concurrency === 1 ? "1 client" : `${level.concurrency} clients`;
  return `${(level.rate ?? 0).toFixed(2)} req/s`;
}

/** Numbers typed as `1, 2, 4`; empty when the field is. */
function numbers(text: string): number[] {
  return text
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "")
    .map(Number)
    .filter((n) => Number.isFinite(n) && n > 0);
}

/** Load tests (`tradeoff load`): run one against an endpoint (the served winner's by default),
 * watch its levels finish, and read a recorded test's curve, knee and capacity plan. */
export function LoadScreen() {
  const tests = useLoadTests();
  const [chosen, setChosen] = useState<number | null>(null);
  const shown = chosen ?? tests.data?.[0]?.id ?? null;
  return (
    <section className="load-screen">
      <h2>Load</h2>
      <LoadForm onDone={setChosen} />
      {tests.error && <ErrorNote error={tests.error} />}
      {tests.data && tests.data.length > 0 && (
        <label>
          load test{" "}
          <select value={shown ?? ""} onChange={(e) => setChosen(Number(e.target.value))} data-testid="load-test-choice">
            {tests.data.map((t) => (
              <option key={t.id} value={t.id}>
                #{t.id} {t.label} ({t.levels} levels)
              </option>
            ))}
          </select>
        </label>
      )}
      {tests.data?.length === 0 && <p className="muted">No load test yet: run one above, or `tradeoff load` from a terminal.</p>}
      {shown !== null && <LoadTestView id={shown} />}
    </section>
  );
}

function LoadForm({ onDone }: { onDone: (id: number) => void }) {
  const serving = useServing();
  const run = useRunLoadTest();
  const [baseUrl, setBaseUrl] = useState("");
  const [model, setModel] = useState("");
  const [clients, setClients] = useState("");
  const [rates, setRates] = useState("");
  const [seconds, setSeconds] = useState(10);
  const [inputTokens, setInputTokens] = useState(64);
  const [outputTokens, setOutputTokens] = useState(16);
  const [slo, setSlo] = useState("ttft=500ms,e2e=4s");
  const [lines, setLines] = useState<string[]>([]);
  // The served winner is the natural subject: its address until another is typed.
  const url = baseUrl || serving.data?.url || "";
  const start = async () => {
    setLines([]);
    try {
      const id = await run.mutateAsync({
        request: {
          base_url: url,
          model: model || "served",
          concurrency: numbers(clients),
          rates: numbers(rates),
          seconds_per_level: seconds,
          input_tokens: inputTokens,
          output_tokens: outputTokens,
          slo,
        },
        onLine: (line) => setLines((l) => [...l, line]),
      });
      onDone(id);
    } catch {
      // The error shows below the form.
    }
  };
  return (
    <div className="load-form">
      <div className="row">
        <label>
          endpoint <input value={url} onChange={(e) => setBaseUrl(e.target.value)} placeholder="http://127.0.0.1:8080/v1" aria-label="endpoint" />
        </label>
        <label>
          model <input value={model} onChange={(e) => setModel(e.target.value)} placeholder="as the API names it" aria-label="model" />
        </label>
      </div>
      <div className="row">
        <label>
          clients <input value={clients} onChange={(e) => setClients(e.target.value)} placeholder="1,2,4" aria-label="clients" />
        </label>
        <label>
          or rates <input value={rates} onChange={(e) => setRates(e.target.value)} placeholder="0.5,1,2 req/s" aria-label="rates" />
        </label>
        <span className="muted">neither: a sweep</span>
        <label>
          s per level <input type="number" min={1} value={seconds} onChange={(e) => setSeconds(Number(e.target.value))} aria-label="seconds per level" />
        </label>
        <label>
          tokens in <input type="number" min={1} value={inputTokens} onChange={(e) => setInputTokens(Number(e.target.value))} aria-label="input tokens" />
        </label>
        <label>
          out <input type="number" min={1} value={outputTokens} onChange={(e) => setOutputTokens(Number(e.target.value))} aria-label="output tokens" />
        </label>
        <label>
          SLO <input value={slo} onChange={(e) => setSlo(e.target.value)} aria-label="slo" />
        </label>
        <button onClick={() => void start()} disabled={run.isPending || url === ""} data-testid="run-load">
          {run.isPending ? "Running…" : "Run load test"}
        </button>
      </div>
      {lines.length > 0 && (
        <pre className="load-progress" data-testid="load-progress">
          {lines.join("\n")}
        </pre>
      )}
      {run.error && <ErrorNote error={run.error} />}
    </div>
  );
}

function LoadTestView({ id }: { id: number }) {
  const test = useLoadTest(id);
  if (test.error) return <ErrorNote error={test.error} />;
  if (!test.data) return <p className="muted">Reading the load test…</p>;
  return <LoadTestDetails test={test.data} />;
}

function LoadTestDetails({ test }: { test: LoadTest }) {
  // Along the x axis, not in the order the levels ran: a sweep runs its heaviest closed-loop
  // level second.
  const points = test.levels
    .map((level, i) => ({
    rps: level.achieved_rps ?? 0,
    ttft50: level.ttft_ms.p50,
    ttft99: level.ttft_ms.p99,
    e2e50: level.e2e_ms.p50,
    e2e99: level.e2e_ms.p99,
    name: loadOf(level),
    index: i,
  }))
    .sort((a, b) => a.rps - b.rps);
  const knee = test.knee ? test.levels[test.knee.level] : null;
  return (
    <div className="load-test" data-testid="load-test">
      <p>
        {test.label} <span className="muted">({test.prompts_from})</span>
      </p>
      <p data-testid="load-knee">
        {test.knee && knee
          ? `Knee: ${(test.knee.rps ?? 0).toFixed(2)} req/s (${loadOf(knee)}), goodput ${(test.knee.goodput_rps ?? 0).toFixed(2)} req/s — ${test.knee.reason}`
          : "No knee: the lightest level already missed."}
      </p>
      <LineChart width={720} height={280} data={points} margin={{ top: 10, right: 20, bottom: 20, left: 10 }} data-testid="load-curve">
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="rps" type="number" domain={["auto", "auto"]} label={{ value: "achieved req/s", position: "insideBottom", offset: -10 }} />
        <YAxis label={{ value: "ms", angle: -90, position: "insideLeft" }} />
        <Tooltip />
        <Legend verticalAlign="top" />
        <Line dataKey="ttft50" name="TTFT p50" stroke="#2f6fdb" isAnimationActive={false} />
        <Line dataKey="ttft99" name="TTFT p99" stroke="#2f6fdb" strokeDasharray="4 3" isAnimationActive={false} />
        <Line dataKey="e2e50" name="end-to-end p50" stroke="#c0392b" isAnimationActive={false} />
        <Line dataKey="e2e99" name="end-to-end p99" stroke="#c0392b" strokeDasharray="4 3" isAnimationActive={false} />
        {test.slo?.ttft_ms && <ReferenceLine y={test.slo.ttft_ms} stroke="#2f6fdb" label="TTFT SLO" />}
        {test.slo?.e2e_ms && <ReferenceLine y={test.slo.e2e_ms} stroke="#c0392b" label="e2e SLO" />}
        {knee && <ReferenceLine x={knee.achieved_rps ?? 0} stroke="#1f6f3a" label="knee" />}
      </LineChart>
      <table className="summary">
        <thead>
          <tr>
            <th>load</th>
            <th>offered / achieved req/s</th>
            <th>TTFT p50 / p99</th>
            <th>e2e p50 / p99</th>
            <th>errors</th>
            <th>goodput req/s</th>
            <th>SLO met</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {test.levels.map((level, i) => (
            <tr key={i} data-testid="load-level" className={test.knee?.level === i ? "knee" : ""}>
              <td>{loadOf(level)}</td>
              <td>
                {(level.offered_rps ?? 0).toFixed(2)} / {(level.achieved_rps ?? 0).toFixed(2)}
              </td>
              <td>
                {ms(level.ttft_ms.p50)} / {ms(level.ttft_ms.p99)} ms
              </td>
              <td>
                {ms(level.e2e_ms.p50)} / {ms(level.e2e_ms.p99)} ms
              </td>
              <td>{((level.error_rate ?? 0) * 100).toFixed(1)} %</td>
              <td>{(level.goodput_rps ?? 0).toFixed(2)}</td>
              <td>{level.slo_attainment === null ? "—" : `${(level.slo_attainment * 100).toFixed(1)} %`}</td>
              <td className="muted">
                {level.saturated ? `saturated: ${level.saturation ?? ""}` : ""}
                {level.valid ? "" : " not valid: the generator sent late"}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {test.knee && <CapacityCalculator id={test.id} />}
    </div>
  );
}

function CapacityCalculator({ id }: { id: number }) {
  const plan = usePlanCapacity();
  const [daily, setDaily] = useState(500000);
  const [peak, setPeak] = useState(3);
  const [perHour, setPerHour] = useState(0.08);
  const [hosted, setHosted] = useState("openai:gpt-4o-mini");
  const [result, setResult] = useState<CapacityPlan | null>(null);
  const compute = async () => {
    try {
      setResult(await plan.mutateAsync({ id, request: { rps: null, daily, peak_factor: peak, price_per_hour: perHour, hosted } }));
    } catch {
      setResult(null);
    }
  };
  return (
    <div className="capacity" data-testid="capacity">
      <h3>Capacity</h3>
      <label>
        requests a day <input type="number" value={daily} onChange={(e) => setDaily(Number(e.target.value))} aria-label="requests a day" />
      </label>
      <label>
        peak × <input type="number" value={peak} onChange={(e) => setPeak(Number(e.target.value))} aria-label="peak factor" />
      </label>
      <label>
        $ per machine hour <input type="number" step="0.01" value={perHour} onChange={(e) => setPerHour(Number(e.target.value))} aria-label="price per hour" />
      </label>
      <label>
        hosted <input value={hosted} onChange={(e) => setHosted(e.target.value)} aria-label="hosted model" />
      </label>
      <button onClick={() => void compute()} data-testid="plan-capacity">
        Plan
      </button>
      {plan.error && <p className="message error">{errorText(plan.error)}</p>}
      {result && (
        <p data-testid="capacity-plan">
          {result.replicas} replicas for a peak of {(result.peak_rps ?? 0).toFixed(2)} req/s at {(result.per_replica_rps ?? 0).toFixed(2)} req/s each
          {result.machines_per_month_usd !== null && `: ${dollars(result.machines_per_month_usd)} a month`}
          {result.hosted && ` — ${result.hosted.model} instead: ${dollars(result.hosted.per_month_usd)} a month`}
        </p>
      )}
    </div>
  );
}
