import { ExperimentStatus } from "../components/ExperimentStatus";
import { useExperiments } from "../queries";
import { useWorkspace } from "./ExperimentWorkspace";

/** How many recorded experiments the first screen lists; the sidebar has them all. */
const RECENT = 5;

/** What a new user meets before anything is open: what Tradeoff answers, one action that shows
 * it (the quickstart, run), opening a file, and the experiments recorded last. */
export function FirstScreen() {
  const workspace = useWorkspace();
  const experiments = useExperiments().data ?? [];
  const busy = workspace.progress !== null;

  const runQuickstart = async () => {
    const opened = await workspace.openQuickstart();
    if (opened) await workspace.run(opened);
  };

  return (
    <section className="first-screen" data-testid="first-screen">
      <h2>Which prompt, on which model and settings, gives the quality you need at the lowest latency and cost?</h2>
      <p className="muted">
        Tradeoff answers by measuring: it runs every variant of a prompt on every model, quantization and context length you name,
        checks the outputs, records latency, tokens and cost, and picks the winner by your objective.
      </p>
      <div className="first-actions">
        <button className="primary" onClick={() => void runQuickstart()} disabled={busy} data-testid="run-quickstart">
          Run the quickstart
        </button>
        <button onClick={() => void workspace.openChosen()} data-testid="first-open">
          Open an experiment file…
        </button>
      </div>
      <p className="muted">
        The quickstart runs three prompt variants on four cases with the default model (Gemma 3 270M, on this machine&apos;s CPU),
        in about half a minute.
      </p>
      {experiments.length > 0 && (
        <>
          <h3>Recent experiments</h3>
          <ul className="recent" data-testid="recent-experiments">
            {experiments.slice(0, RECENT).map((e) => (
              <li key={e.id}>
                <button onClick={() => void workspace.reopen(e)}>
                  #{e.id} {e.name}
                </button>{" "}
                <ExperimentStatus status={e.status} recorded={e.runs} planned={e.planned_runs} busy={busy} />
                <span className="muted"> · {e.created_at.slice(0, 16).replace("T", " ")}</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
