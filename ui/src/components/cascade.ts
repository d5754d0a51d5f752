// A cascade as the routing view's builder holds it, and as an experiment file writes it (the JSON
// the backend validates, simulates and exports).
import type { ResultsView } from "../api";

type ConfigRow = ResultsView["configs"][number];

/** One stage of the builder: a config (its index in the results) and what sends a request on. */
export interface StageDraft {
  config: number;
  error: boolean;
  jsonValid: boolean;
  /** A mean token log-probability (≤ 0) below which the answer escalates; empty: not used. */
  confidenceBelow: string;
}

export interface CascadeDraft {
  id: string;
  stages: StageDraft[];
}

/** The settings that name a local config among its target's sweep (flattened into the row). */
const SETTINGS = ["n_ctx", "threads", "batch", "kv_type", "n_gpu_layers", "parallel", "prefix_cache"] as const;

function settingsOf(config: ConfigRow): Record<string, unknown> | undefined {
  const row = config as unknown as Record<string, unknown>;
  const present = SETTINGS.filter((name) => row[name] !== undefined && row[name] !== null);
  return present.length === 0 ? undefined : Object.fromEntries(present.map((name) => [name, row[name]]));
}

export function newStage(config: number): StageDraft {
  return { config, error: true, jsonValid: false, confidenceBelow: "" };
}

/** The cascade as an experiment file's `policies` entry. */
export function policySpec(draft: CascadeDraft, configs: ConfigRow[]): Record<string, unknown> {
  const last = draft.stages.length - 1;
  return {
    id: draft.id.trim(),
    cascade: draft.stages.map((stage, index) => {
      const config = configs.find((c) => c.index === stage.config) ?? configs[0];
      const written: Record<string, unknown> = { variant: config.variant, target: config.target };
      const settings = settingsOf(config);
      if (settings) written.settings = settings;
      if (index < last) {
        const when: unknown[] = [];
        if (stage.error) when.push("error");
        if (stage.jsonValid) when.push({ check: "json_valid" });
        const bound = stage.confidenceBelow.trim();
        // Sent as written when it is not a number, so the backend names the field that is wrong.
        if (bound !== "") when.push({ confidence_below: Number.isNaN(Number(bound)) ? bound : Number(bound) });
        written.escalate_when = when;
      }
      return written;
    }),
  };
}
