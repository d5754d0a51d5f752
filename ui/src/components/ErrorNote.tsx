import { errorDetails, errorText } from "../api";

/**
 * An error as the user meets it: one sentence where they acted, and what the backend kept in full
 * (a connection's cause chain, a worker's last words on stderr) folded under "details".
 */
export function ErrorNote({ error, className = "message error", testId }: { error: unknown; className?: string; testId?: string }) {
  return (
    <>
      <div className={className} role="alert" data-testid={testId}>
        {errorText(error)}
      </div>
      <ErrorDetails details={errorDetails(error)} />
    </>
  );
}

/** The fold under an error sentence; nothing when the backend kept no more than the sentence. */
export function ErrorDetails({ details }: { details: string | null | undefined }) {
  if (!details) return null;
  return (
    <details className="error-details" data-testid="error-details">
      <summary>details</summary>
      <pre>{details}</pre>
    </details>
  );
}
