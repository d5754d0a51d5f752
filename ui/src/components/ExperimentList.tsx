import type { ExperimentItem } from "../api";
import { resumable, statusText } from "../format";

export function ExperimentList({
  experiments,
  current,
  onOpen,
  onResume,
  busy = false,
}: {
  experiments: ExperimentItem[];
  current: number | null;
  onOpen: (id: number) => void;
  /** Runs the missing runs of an interrupted or cancelled experiment. */
  onResume?: (id: number) => void;
  /** An experiment is running: Resume waits for it. */
  busy?: boolean;
}) {
  if (experiments.length === 0) return <p className="muted">No experiments recorded yet.</p>;
  return (
    <ul className="experiment-list" data-testid="experiment-list">
      {experiments.map((e) => (
        <li key={e.id}>
          <button className={current === e.id ? "active" : ""} onClick={() => onOpen(e.id)}>
            <span className="name">
              #{e.id} {e.name}
            </span>
            <span className="meta">
              {e.created_at.slice(0, 16).replace("T", " ")} · {statusText(e.status, e.runs, e.planned_runs)} · {e.configs}{" "}
              configs{e.status === "completed" ? ` · ${e.runs} runs` : ""}
              {e.errors > 0 ? ` · ${e.errors} errors` : ""}
            </span>
          </button>
          {onResume && resumable(e.status) && (
            <button className="resume" onClick={() => onResume(e.id)} disabled={busy} data-testid={`resume-${e.id}`}>
              Resume
            </button>
          )}
        </li>
      ))}
    </ul>
  );
}
