import { memo, useState } from "react";
import { api, errorText } from "../api";
import { dollars, signedDollars, verdictWord } from "../format";
import { useDefaultExportPath, useExportWinner, useServeWinner, useServing, useStopServing, useWinner } from "../queries";

const percent = (v: number | null) => (v == null ? "—" : `${(v * 100).toFixed(0)}%`);
const ms = (v: number | null) => (v == null ? "—" : `${v.toFixed(0)} ms`);

/** The decision: which config or routing policy the objective picks, by how much, and the file to deploy it. */
export const WinnerCard = memo(function WinnerCard({ experimentId }: { experimentId: number }) {
  const [objective, setObjective] = useState("");
  // The objective the winner was asked for with "Pick the winner"; null before the first time.
  const [asked, setAsked] = useState<string | null>(null);
  const decision = useWinner(experimentId, asked);
  const suggested = useDefaultExportPath(experimentId, null).data;
  // Null until the user edits the file or chooses one: then the suggestion is shown.
  const [chosenPath, setChosenPath] = useState<string | null>(null);
  const path = chosenPath ?? suggested ?? "";
  const { mutateAsync: exportFile } = useExportWinner();
  const serving = useServing().data ?? null;
  const serve = useServeWinner();
  const { mutateAsync: stopServing } = useStopServing();
  const [exported, setExported] = useState<string | null>(null);
  // What went wrong with the last export or save dialog; a refused objective is the query's own.
  const [actionError, setActionError] = useState<string | null>(null);
  const winner = decision.isError ? null : decision.data;
  const error = actionError ?? (decision.error ? errorText(decision.error) : null);

  const decide = () => {
    setActionError(null);
    setExported(null);
    if (asked === objective) void decision.refetch();
    else setAsked(objective);
  };

  const exportWinner = async () => {
    setActionError(null);
    try {
      setExported(await exportFile({ id: experimentId, objective, path }));
    } catch (e) {
      setActionError(errorText(e));
    }
  };

  const startServing = async () => {
    setActionError(null);
    try {
      await serve.mutateAsync({ id: experimentId, objective });
    } catch (e) {
      setActionError(errorText(e));
    }
  };

  const stop = async () => {
    setActionError(null);
    try {
      await stopServing();
    } catch (e) {
      setActionError(errorText(e));
    }
  };

  /** Writing outside the data folder needs the user's choice in the native dialog. */
  const choose = async () => {
    setActionError(null);
    try {
      const chosen = await api.pickSavePath(path);
      if (chosen !== null) setChosenPath(chosen);
    } catch (e) {
      setActionError(errorText(e));
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
            {winner.kind === "policy" ? `simulated on ${winner.runs} recorded requests` : `${winner.runs} runs`} · objective{" "}
            <code>{winner.objective}</code>
          </p>
          {winner.stages.length > 0 && (
            <ol className="winner-stages" data-testid="winner-stages">
              {winner.stages.map((stage) => (
                <li key={stage}>{stage}</li>
              ))}
            </ol>
          )}
          {winner.runner_up && (
            <p>
              Runner-up: {winner.runner_up.label}. Median latency {margin?.estimate_ms == null ? "—" : `${margin.estimate_ms.toFixed(0)} ms`}
              {margin?.low_ms != null && margin.high_ms != null && ` [${margin.low_ms.toFixed(0)}, ${margin.high_ms.toFixed(0)}]`} against it:{" "}
              <strong>{margin && verdictWord(margin.verdict)}</strong>
              {winner.runner_up.pass_rate_margin != null && `; pass rate ${(winner.runner_up.pass_rate_margin * 100).toFixed(0)} points`}
              {winner.runner_up.cost_per_run_margin_usd != null && `; cost per run ${signedDollars(winner.runner_up.cost_per_run_margin_usd)}`}.
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
            <input value={path} onChange={(e) => setChosenPath(e.target.value)} aria-label="winner file" />
            <button onClick={() => void choose()} data-testid="choose-winner-file">
              Choose…
            </button>
            <button onClick={exportWinner} data-testid="export-winner">
              Export winner
            </button>
          </div>
          {exported && <p className="muted">Wrote {exported}</p>}
          <div className="winner-controls">
            <button onClick={() => void startServing()} disabled={serve.isPending} data-testid="serve-winner">
              {serve.isPending ? "Starting the server…" : serving ? "Serve this winner instead" : "Serve"}
            </button>
            {serving && (
              <>
                <span data-testid="serving">
                  Serving at <code>{serving.url}</code> (OpenAI-compatible; its traffic is on the Monitor screen)
                </span>
                <button onClick={() => void stop()} data-testid="stop-serving">
                  Stop
                </button>
              </>
            )}
          </div>
        </div>
      )}
    </section>
  );
});
