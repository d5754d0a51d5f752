import type { ExperimentItem } from "../api";

export function ExperimentList({
  experiments,
  current,
  onOpen,
}: {
  experiments: ExperimentItem[];
  current: number | null;
  onOpen: (id: number) => void;
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
              {e.created_at.slice(0, 16).replace("T", " ")} · {e.status} · {e.configs} configs · {e.runs} runs
              {e.errors > 0 ? ` · ${e.errors} errors` : ""}
            </span>
          </button>
        </li>
      ))}
    </ul>
  );
}
