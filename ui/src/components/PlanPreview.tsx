import { useEffect, useMemo, useState } from "react";
import { errorText, type ExperimentDraft, type PlanView } from "../api";
import { Waiting } from "./Waiting";
import { usePlan } from "../queries";

const DEBOUNCE_MS = 400;
/** Rows drawn; the totals above cover every cell. */
const SHOWN_CELLS = 300;

const bytes = (b: number) => (b >= 1 << 30 ? `${(b / (1 << 30)).toFixed(2)} GiB` : `${(b / (1 << 20)).toFixed(1)} MiB`);
const usd = (c: number | null) => (c === null ? "—" : `$${c.toFixed(6)}`);

/** `value` once it has stopped changing for `ms`. */
function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** What the draft will send and cost, recomputed as it changes (the same plan as `tradeoff plan`). */
export function PlanPreview({ path, draft }: { path: string; draft: ExperimentDraft }) {
  // Counting starts a tokenizer in a worker: ask once typing pauses, not per keystroke.
  const asked = useSettled(useMemo(() => ({ path, draft }), [path, draft]), DEBOUNCE_MS);
  const query = usePlan(asked.path, asked.draft);
  // A draft that does not plan (a half-typed template) leaves the last plan in view under its error.
  const [lastPlan, setLastPlan] = useState<PlanView | null>(null);
  if (query.data && query.data !== lastPlan) setLastPlan(query.data);
  const plan = query.data ?? lastPlan;
  const error = query.error ? errorText(query.error) : null;
  const busy = query.isFetching;

  return (
    <section className="plan-preview" data-testid="plan-preview">
      <h3>
        Plan <Waiting active={busy} what="counting tokens with each model's own tokenizer (the first count starts a worker and loads the model)" />
      </h3>
      {error && (
        <p className="error" data-testid="plan-error">
          {error}
        </p>
      )}
      {plan && (
        <>
          <p data-testid="plan-summary">
            {plan.runs} runs ({plan.repetitions} repetition{plan.repetitions === 1 ? "" : "s"})
            {plan.max_token_cost_usd === null ? "" : `; token cost at most $${plan.max_token_cost_usd.toFixed(4)}`}
          </p>
          <table className="plan-configs">
            <thead>
              <tr>
                <th>config</th>
                <th>memory</th>
                <th>fits in memory</th>
              </tr>
            </thead>
            <tbody>
              {plan.configs.map((c) => (
                <tr key={c.config}>
                  <td>{c.config}</td>
                  <td>{c.memory_bytes === null ? "—" : bytes(c.memory_bytes)}</td>
                  <td>{c.fits_memory === null ? "unknown" : c.fits_memory ? "yes" : "NO: would be refused"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <table className="plan-cells" data-testid="plan-cells">
            <thead>
              <tr>
                <th>config</th>
                <th>case</th>
                <th>input tokens</th>
                <th>+ max out</th>
                <th>context</th>
                <th>fits</th>
                <th>max token cost</th>
              </tr>
            </thead>
            <tbody>
              {plan.cells.slice(0, SHOWN_CELLS).map((c) => (
                <tr key={`${c.config}\u001f${c.case}`} className={c.fits_context === false || c.problem ? "plan-bad" : ""}>
                  <td>{c.config}</td>
                  <td>{c.case}</td>
                  <td title={c.counted_by ?? ""} data-testid="plan-tokens">
                    {c.input_tokens === null ? "—" : `${c.tokens_estimated ? "~" : ""}${c.input_tokens}`}
                  </td>
                  <td>{c.max_tokens}</td>
                  <td>{c.n_ctx ?? "—"}</td>
                  <td>
                    {c.problem
                      ? `error: ${c.problem}`
                      : c.fits_context === null
                        ? "—"
                        : c.fits_context
                          ? "yes"
                          : "NO: raise n_ctx or lower max_tokens"}
                  </td>
                  <td
                    title={c.time_priced ? "priced by the run's time (per hour or power): known once it has run, not bounded before" : undefined}
                  >
                    {c.max_token_cost_usd === null && c.time_priced ? "by time" : usd(c.max_token_cost_usd)}
                    {c.max_token_cost_usd !== null && c.time_priced ? " + time" : ""}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {plan.cells.length > SHOWN_CELLS && (
            <p className="muted">
              … {plan.cells.length - SHOWN_CELLS} more config × case rows
              {plan.cells.slice(SHOWN_CELLS).some((c) => c.fits_context === false) ? ", some of which do not fit their context" : ""}
            </p>
          )}
          <p className="muted">
            counted by {Array.from(new Set(plan.cells.flatMap((c) => (c.counted_by ? [c.counted_by] : [])))).join(", ") || "—"}
            {plan.cells.some((c) => c.tokens_estimated) ? "; ~ marks an estimate (no public tokenizer of the model)" : ""}
          </p>
        </>
      )}
    </section>
  );
}
