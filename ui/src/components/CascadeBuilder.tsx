import type { ResultsView } from "../api";
import { configLabel } from "../format";
import { newStage, type CascadeDraft, type StageDraft } from "./cascade";

/** Compose a cascade from the experiment's configs: each stage a config and the conditions that
 * send a request on to the next; the last stage always answers. */
export function CascadeBuilder({
  configs,
  draft,
  onChange,
}: {
  configs: ResultsView["configs"];
  draft: CascadeDraft;
  onChange: (draft: CascadeDraft) => void;
}) {
  const last = draft.stages.length - 1;
  const setStage = (index: number, stage: Partial<StageDraft>) =>
    onChange({ ...draft, stages: draft.stages.map((s, i) => (i === index ? { ...s, ...stage } : s)) });
  return (
    <div className="cascade-builder" data-testid="cascade-builder">
      <label>
        policy id <input value={draft.id} onChange={(e) => onChange({ ...draft, id: e.target.value })} aria-label="policy id" />
      </label>
      <ol>
        {draft.stages.map((stage, index) => (
          <li key={index} data-testid={`stage-${index}`}>
            <select
              value={stage.config}
              onChange={(e) => setStage(index, { config: Number(e.target.value) })}
              aria-label={`stage ${index + 1} config`}
            >
              {configs.map((c) => (
                <option key={c.index} value={c.index}>
                  {configLabel(c)}
                </option>
              ))}
            </select>
            {index < last ? (
              <span className="escalate-when">
                escalate when{" "}
                <label>
                  <input type="checkbox" checked={stage.error} onChange={(e) => setStage(index, { error: e.target.checked })} /> error
                </label>
                <label>
                  <input
                    type="checkbox"
                    checked={stage.jsonValid}
                    onChange={(e) => setStage(index, { jsonValid: e.target.checked })}
                    aria-label={`stage ${index + 1} not JSON`}
                  />{" "}
                  not JSON
                </label>
                <label>
                  confidence below{" "}
                  <input
                    value={stage.confidenceBelow}
                    onChange={(e) => setStage(index, { confidenceBelow: e.target.value })}
                    placeholder="e.g. -0.35"
                    aria-label={`stage ${index + 1} confidence below`}
                    size={7}
                  />
                </label>
              </span>
            ) : (
              <span className="muted"> answers whatever reaches it</span>
            )}
            {draft.stages.length > 2 && (
              <button type="button" onClick={() => onChange({ ...draft, stages: draft.stages.filter((_, i) => i !== index) })}>
                Remove
              </button>
            )}
          </li>
        ))}
      </ol>
      <button
        type="button"
        onClick={() => onChange({ ...draft, stages: [...draft.stages, newStage(configs[configs.length - 1]?.index ?? 0)] })}
        disabled={draft.stages.length >= 16}
        title={draft.stages.length >= 16 ? "a cascade has at most 16 stages" : undefined}
      >
        Add stage
      </button>
    </div>
  );
}
