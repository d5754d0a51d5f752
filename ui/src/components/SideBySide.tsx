import { useEffect, useState } from "react";
import { errorText, type DiffGranularity, type DiffView } from "../api";
import { percent } from "../format";
import { DiffText } from "./DiffText";
import { diffOf } from "./useDiff";

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
  const [diff, setDiff] = useState<DiffView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [baseline, other] = runs;
  useEffect(() => {
    let live = true;
    diffOf(baseline, other, granularity)
      .then((d) => live && setDiff(d))
      .catch((e) => live && setError(errorText(e)));
    return () => {
      live = false;
    };
  }, [baseline, other, granularity]);
  return (
    <section className="side-by-side" data-testid="side-by-side">
      <header>
        <strong>Side by side</strong> {diff && <span className="badge similarity">similarity {percent(diff.similarity)}</span>}
        <button onClick={onClose}>Close</button>
      </header>
      {error && <p className="error">{error}</p>}
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
