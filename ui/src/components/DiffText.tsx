import type { DiffView } from "../api";

/** A diff rendered as text spans: insertions and deletions highlighted, never as HTML. */
export function DiffText({ diff, side }: { diff: DiffView; side?: "baseline" | "other" }) {
  return (
    <span className="diff-text">
      {diff.spans.map((span, i) => {
        if (side === "baseline" && span.kind === "insert") return null;
        if (side === "other" && span.kind === "delete") return null;
        return (
          <span key={i} className={`diff-${span.kind}`} data-diff={span.kind}>
            {span.text}
          </span>
        );
      })}
    </span>
  );
}
