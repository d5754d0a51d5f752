import { errorText, type DiffGranularity } from "../api";
import { percent } from "../format";
import { useDiff } from "../queries";
import { DiffText } from "./DiffText";

/** Two runs next to each other: the first one's text with deletions, the second's with insertions. */
export function SideBySide({
  runs,
  labels,
  granularity,
  onClose,
}: {
  runs: [number, number];
  labels: [string, string];
  granularity: DiffGranularity;
  onClose: () => void;
}) {
  const { data: diff, error } = useDiff(runs[0], runs[1], granularity);
  return (
    <section className="side-by-side" data-testid="side-by-side">
      <header>
        <strong>Side by side</strong> {diff && <span className="badge similarity">similarity {percent(diff.similarity)}</span>}
        <button onClick={onClose}>Close</button>
      </header>
      {error && <p className="error">{errorText(error)}</p>}
      {diff && (
        <div className="panes">
          <div className="pane">
            <h4>{labels[0]}</h4>
            <DiffText diff={diff} side="baseline" />
          </div>
          <div className="pane">
            <h4>{labels[1]}</h4>
            <DiffText diff={diff} side="other" />
          </div>
        </div>
      )}
    </section>
  );
}
