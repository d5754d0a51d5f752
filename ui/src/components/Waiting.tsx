import { useEffect, useState } from "react";

/** Loads shorter than this pass without a word: a note that flickers says nothing. */
export const WAIT_MS = 300;

/** Says what a load is waiting for once it has taken longer than `WAIT_MS`. */
export function Waiting({ active, what }: { active: boolean; what: string }) {
  // Mounted afresh each time a load starts, so its delay starts again.
  return active ? <DelayedNote what={what} /> : null;
}

function DelayedNote({ what }: { what: string }) {
  const [shown, setShown] = useState(false);
  useEffect(() => {
    const timer = setTimeout(() => setShown(true), WAIT_MS);
    return () => clearTimeout(timer);
  }, []);
  if (!shown) return null;
  return (
    <span className="waiting" role="status" data-testid="waiting">
      <span className="spinner" aria-hidden="true" />
      {what}
    </span>
  );
}
