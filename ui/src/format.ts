import type { ExperimentStatus, Verdict } from "./bindings";

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(0)} ms`;
}

export function num(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined) return "—";
  return value.toFixed(digits);
}

export function percent(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return `${Math.round(value * 100)}%`;
}

/** `variant · target · settings`, where settings names only what differs between configs. */
export function configLabel(c: { variant: string; target: string; settings_label: string }): string {
  return `${c.variant} · ${c.target} · ${c.settings_label}`;
}

/** `interrupted — 31 of 48 runs recorded`: every status but `completed` says how far its plan got
 * (the same words as the CLI's `list` and `report`). */
export function statusText(status: ExperimentStatus, recorded: number, planned: number): string {
  if (status === "completed" || planned === 0) return status;
  return `${status} — ${recorded} of ${planned} runs recorded`;
}

/** An experiment whose process ended before its plan did: `run --resume` runs what is missing. */
export function resumable(status: ExperimentStatus): boolean {
  return status === "interrupted" || status === "cancelled";
}

/** How a latency difference reads: lower is faster (the same words as the CLI's comparison). */
export function verdictWord(verdict: Verdict): string {
  switch (verdict) {
    case "lower":
      return "faster";
    case "higher":
      return "slower";
    case "no_clear_difference":
      return "no clear difference";
    case "too_few_runs":
      return "too few runs";
  }
}

/** A money amount with the digits it needs: per-run costs are fractions of a cent, so a fixed
 * four decimals would show `$0.0000` (or `$-0.0000`) for a real, non-zero amount. */
export function dollars(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  const size = Math.abs(value);
  const digits = size === 0 ? "0" : size >= 0.01 ? size.toFixed(4) : size.toPrecision(2);
  return `${value < 0 ? "−" : ""}$${digits}`;
}

/** A difference of money, always signed (`+$0.0012`, `−$0.000034`). */
export function signedDollars(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return value > 0 ? `+${dollars(value)}` : dollars(value);
}
