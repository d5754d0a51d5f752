import type { ProgressEvent } from "../api";

export interface Progress {
  done: number;
  total: number;
  startedAt: number;
  /** Seconds left, estimated from the pace so far; null before the first run finished. */
  eta: number | null;
  label: string;
  text: string;
  /** A search's race: the configs still in, those dropped with why, the runs used so far. */
  race?: Race;
}

export interface Race {
  round: number;
  alive: number;
  runsUsed: number;
  runsGrid: number;
  dropped: { label: string; round: number; reason: string }[];
}

/** Folds a progress event into the progress shown; returns null when nothing changes. */
export function nextProgress(
  progress: Progress | null,
  event: ProgressEvent,
  configLabel: (config: number) => string,
  caseLabel: (c: number) => string,
): Progress | null {
  const base = progress ?? { done: 0, total: 0, startedAt: Date.now(), eta: null, label: "", text: "" };
  switch (event.kind) {
    case "started":
      return { ...base, total: event.total, label: "starting" };
    case "loading":
      return { ...base, label: `loading ${event.target} (n_ctx ${event.n_ctx})`, text: "" };
    case "running":
      return {
        ...base,
        done: event.done,
        total: event.total,
        label: `${configLabel(event.config)} · case ${caseLabel(event.case)} · rep ${event.repetition + 1}`,
        text: event.text,
      };
    case "run_finished": {
      const elapsed = (Date.now() - base.startedAt) / 1000;
      const eta = event.done > 0 ? (elapsed / event.done) * (event.total - event.done) : null;
      return { ...base, done: event.done, total: event.total, eta };
    }
    case "graded":
      return { ...base, label: `grading judge checks ${event.done}/${event.total}`, text: "", eta: null };
    case "search_round":
      return {
        ...base,
        race: {
          round: event.round,
          alive: event.alive.length,
          runsUsed: event.runs_used,
          runsGrid: event.runs_grid,
          dropped: [
            ...(base.race?.dropped ?? []),
            ...event.eliminated.map((e) => ({ label: configLabel(e.config), round: e.round, reason: e.reason })),
          ],
        },
      };
    default:
      return null;
  }
}

export function RunProgress({ progress, onCancel }: { progress: Progress; onCancel: () => void }) {
  return (
    <section className="run-progress" data-testid="run-progress">
      <div className="progress-line">
        <progress value={progress.done} max={Math.max(progress.total, 1)} />
        <span data-testid="progress-count">
          {progress.done}/{progress.total} runs
        </span>
        <span className="muted">{progress.eta === null ? "" : `ETA ${Math.ceil(progress.eta)} s`}</span>
        <button onClick={onCancel}>Cancel</button>
      </div>
      <div className="muted">{progress.label}</div>
      {progress.race && (
        <div className="race" data-testid="race">
          <div>
            round {progress.race.round}: {progress.race.alive} configs left, {progress.race.runsUsed} of the grid&apos;s{" "}
            {progress.race.runsGrid} runs used
          </div>
          <ul>
            {progress.race.dropped.map((d) => (
              <li key={d.label} className="muted">
                dropped {d.label} (round {d.round}): {d.reason}
              </li>
            ))}
          </ul>
        </div>
      )}
      <pre className="stream">{progress.text}</pre>
    </section>
  );
}
