import { errorText, type LocalInference } from "../api";
import { LOCAL_INFERENCE_POLL_MS, useLocalInference } from "../queries";

/** Settings' "Local inference" section: whether a test decode proved llama.cpp runs on this machine. */
export function LocalInferenceStatus({ pollMs = LOCAL_INFERENCE_POLL_MS }: { pollMs?: number }) {
  const { data: view, error } = useLocalInference(pollMs);
  return (
    <section className="local-inference" data-testid="local-inference">
      <h3>Local inference</h3>
      {error ? (
        <p className="error" role="alert">
          {errorText(error)}
        </p>
      ) : view === undefined || view.state === "checking" ? (
        <p className="muted" data-testid="local-inference-status">
          Checking… (a test decode on this machine with the best llama.cpp CPU variant that works)
        </p>
      ) : view.state === "verified" ? (
        <p data-testid="local-inference-status">
          Verified on <strong>{view.variant}</strong> ({view.features.join(" ")}) by a test decode on this machine
        </p>
      ) : view.state === "failed" ? (
        <div className="message error" role="alert" data-testid="local-inference-status">
          Local models cannot run on this machine: the CPU self-test failed.
          <pre className="self-test-message">{view.message}</pre>
        </div>
      ) : (
        <p className="message warning" data-testid="local-inference-status">
          Not checked: {view.reason}
        </p>
      )}
    </section>
  );
}

/** On the run screen: the experiment has local targets and the self-test proved they cannot run here. */
export function LocalInferenceBanner({ view, localTargets }: { view: LocalInference | null; localTargets: string[] }) {
  if (view?.state !== "failed" || localTargets.length === 0) return null;
  return (
    <div className="message error" role="alert" data-testid="local-inference-banner">
      Local targets cannot run on this machine ({localTargets.join(", ")}): the CPU self-test failed, so their runs would be recorded as
      failed. See Settings → Local inference.
      <pre className="self-test-message">{view.message}</pre>
    </div>
  );
}
