import type { ExperimentHistory } from "../api";
import { dollars, ms, percent } from "../format";
import { useHistory } from "../queries";
import { ErrorNote } from "./ErrorNote";

/** The experiment's file run after run: each config's figures in every recorded run of the same
 * file, and what changed against its previous run — called a regression or an improvement only
 * when the 95 % bootstrap interval says so (the CLI's `tradeoff history`). */
export function HistoryView({ experimentId }: { experimentId: number }) {
  const history = useHistory(experimentId);
  if (history.error) return <ErrorNote error={history.error} />;
  if (!history.data) return <p className="muted">Reading the earlier runs of this file…</p>;
  return <HistoryTable history={history.data} />;
}

function HistoryTable({ history }: { history: ExperimentHistory }) {
  const where = history.source ?? history.name;
  if (history.entries.length < 2) {
    return (
      <p className="muted" data-testid="history-alone">
        This is the only recorded run of {where}. Run the same file again — with a new model file, a new llama.cpp, on
        another day — and each config&apos;s figures appear here run after run, with regressions called out.
      </p>
    );
  }
  const regressions = history.configs.flatMap((c) => c.points.flatMap((p) => p.change?.regressions ?? []));
  return (
    <div className="history" data-testid="history">
      <p>
        {history.entries.length} recorded runs of {where}:{" "}
        <strong data-testid="history-verdict">
          {regressions.length === 0 ? "no regression established" : `${regressions.length} regressions established`}
        </strong>{" "}
        <span className="muted">
          (95 % bootstrap intervals against each config&apos;s previous run; latency and cost moves under 10 % are not called)
        </span>
      </p>
      <ul className="muted">
        {history.entries.map((entry) => (
          <li key={entry.experiment_id}>
            #{entry.experiment_id} {entry.created_at.slice(0, 19).replace("T", " ")} {entry.status}
            {entry.changed.length > 0 && `: ${entry.changed.join("; ")}`}
          </li>
        ))}
      </ul>
      <table className="summary">
        <thead>
          <tr>
            <th>config</th>
            <th>run</th>
            <th>runs</th>
            <th>pass</th>
            <th>p50</th>
            <th>p95</th>
            <th>cost / run</th>
            <th>against the previous run</th>
          </tr>
        </thead>
        <tbody>
          {history.configs.flatMap((config) =>
            config.points.map((point, i) => (
              <tr key={`${config.label}-${point.experiment_id}`} data-testid="history-row">
                <td>{i === 0 ? config.label : ""}</td>
                <td>#{point.experiment_id}</td>
                <td>{point.runs}</td>
                <td>{percent(point.pass_rate)}</td>
                <td>{ms(point.latency_p50_ms)}</td>
                <td>{ms(point.latency_p95_ms)}</td>
                <td>{dollars(point.cost_per_run_usd)}</td>
                <td>
                  {point.change?.regressions.map((r) => (
                    <div key={r} className="regression" data-testid="regression">
                      worse: {r}
                    </div>
                  ))}
                  {point.change?.improvements.map((r) => (
                    <div key={r} className="improvement">
                      better: {r}
                    </div>
                  ))}
                  {point.change && point.change.regressions.length === 0 && point.change.improvements.length === 0 && (
                    <span className="muted">no established change</span>
                  )}
                </td>
              </tr>
            )),
          )}
        </tbody>
      </table>
    </div>
  );
}
