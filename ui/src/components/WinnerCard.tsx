import { useEffect, useState } from "react";
import { api, errorText, type Winner } from "../api";

const percent = (v: number | null) => (v == null ? "—" : `${(v * 100).toFixed(0)}%`);
const ms = (v: number | null) => (v == null ? "—" : `${v.toFixed(0)} ms`);
const dollars = (v: number | null) => (v == null ? "—" : `$${v.toFixed(4)}`);

/** The decision: which config the objective picks, by how much, and the file to deploy it. */
export function WinnerCard({ experimentId }: { experimentId: number }) {
  const [objective, setObjective] = useState("");
  const [winner, setWinner] = useState<Winner | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [path, setPath] = useState("");
  const [exported, setExported] = useState<string | null>(null);

  useEffect(() => {
    api.defaultExportPath(experimentId, null).then(setPath, () => undefined);
  }, [experimentId]);

  const decide = async () => {
    setError(null);
    setExported(null);
    try {
      setWinner(await api.winner(experimentId, objective));
    } catch (e) {
      setWinner(null);
      setError(errorText(e));
    }
  };

  const exportWinner = async () => {
    setError(null);
    try {
      setExported(await api.exportWinner(experimentId, objective, path));
    } catch (e) {
      setError(errorText(e));
    }
  };

  /** Writing outside the data folder needs the user's choice in the native dialog. */
  const choose = async () => {
    setError(null);
    try {
      const chosen = await api.pickSavePath(path);
      if (chosen !== null) setPath(chosen);
    } catch (e) {
      setError(errorText(e));
    }
  };

  const margin = winner?.runner_up?.latency;
  return (
    <section className="winner-card" data-testid="winner-card">
      <div className="winner-controls">
        <label>
          objective{" "}
          <input
            value={objective}
            onChange={(e) => setObjective(e.target.value)}
            placeholder={'the experiment\'s own, or {"constraints": ["pass_rate >= 0.9"], "order": ["cheapest", "fastest"]}'}
            aria-label="winner objective"
          />
        </label>
        <button onClick={decide} data-testid="decide">
          Pick the winner
        </button>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {winner && (
        <div className="winner" data-testid="winner">
          <h3>
            Winner: <span data-testid="winner-label">{winner.label}</span>
          </h3>
          <p>
            pass rate {percent(winner.pass_rate)} · p95 {ms(winner.latency_p95_ms)} · {dollars(winner.cost_per_1k_usd)} per 1k requests ·{" "}
            {winner.runs} runs · objective <code>{winner.objective}</code>
          </p>
          {winner.runner_up && (
            <p>
              Runner-up: {winner.runner_up.label}. Median latency {margin?.estimate_ms == null ? "—" : `${margin.estimate_ms.toFixed(0)} ms`}
              {margin?.low_ms != null && margin.high_ms != null && ` [${margin.low_ms.toFixed(0)}, ${margin.high_ms.toFixed(0)}]`} against it:{" "}
              <strong>{margin?.verdict}</strong>
              {winner.runner_up.pass_rate_margin != null && `; pass rate ${(winner.runner_up.pass_rate_margin * 100).toFixed(0)} points`}
              {winner.runner_up.cost_per_run_margin_usd != null && `; cost per run ${dollars(winner.runner_up.cost_per_run_margin_usd)}`}.
            </p>
          )}
          {winner.excluded.length > 0 && (
            <ul className="excluded">
              {winner.excluded.map((e) => (
                <li key={e.label}>
                  excluded {e.label}: {e.reason}
                </li>
              ))}
            </ul>
          )}
          <p className="muted">Pareto front (quality, cost, p95): {winner.pareto_front.join("; ")}</p>
          <div className="winner-controls">
            <input value={path} onChange={(e) => setPath(e.target.value)} aria-label="winner file" />
            <button onClick={() => void choose()} data-testid="choose-winner-file">
              Choose…
            </button>
            <button onClick={exportWinner} data-testid="export-winner">
              Export winner
            </button>
          </div>
          {exported && <p className="muted">Wrote {exported}</p>}
        </div>
      )}
    </section>
  );
}
