import type { ExperimentStatus as Status } from "../bindings";
import { resumable, statusText } from "../format";

/** An experiment's status with how many of its planned runs are recorded, and Resume when its
 * process ended before the plan did. */
export function ExperimentStatus({
  status,
  recorded,
  planned,
  onResume,
  busy,
}: {
  status: Status;
  recorded: number;
  planned: number;
  /** Absent where resuming is not offered. */
  onResume?: () => void;
  /** An experiment is running: one at a time. */
  busy: boolean;
}) {
  return (
    <span className="experiment-status">
      <span className={`badge status-${status}`} data-testid="experiment-status">
        {statusText(status, recorded, planned)}
      </span>
      {onResume && resumable(status) && (
        <button
          onClick={onResume}
          disabled={busy}
          title="Run only the runs this experiment is missing, into the same experiment"
          data-testid="resume-button"
        >
          Resume
        </button>
      )}
    </span>
  );
}
