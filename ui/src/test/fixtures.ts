import { mockIPC } from "@tauri-apps/api/mocks";
import type { Cell, ResultsView } from "../api";
import type { RunMetrics_Serialize as RunMetrics } from "../bindings";

/** A run's measurements with the common ones this test does not name absent (the assertion lets
 * a new metric in the bindings need no line here). */
export function metrics(given: Partial<RunMetrics> & Pick<RunMetrics, "latency_ms" | "input_tokens" | "output_tokens">): RunMetrics {
  return ({
    ttft_ms: null,
    prompt_eval_ms: null,
    prompt_eval_tokens: null,
    gen_eval_ms: null,
    gen_eval_tokens: null,
    peak_rss_bytes: null,
    kv_cache_bytes: null,
    decode_ms: null,
    cached_tokens: null,
    batch_sequences: null,
    batch_wall_ms: null,
    first_reasoning_ms: null,
    tokens_estimated: null,
    new_connection: null,
    ...given,
  }) as RunMetrics;
}

export function cell(run_id: number, config: number, caseIndex: number, preview: string, extra: Partial<Cell> = {}): Cell {
  return {
    run_id,
    config,
    case: caseIndex,
    repetition: 0,
    metrics: metrics({ latency_ms: 120, ttft_ms: 40, input_tokens: 30, output_tokens: 8, gen_eval_ms: 100, gen_eval_tokens: 6 }),
    gen_tokens_per_s: 60,
    preview,
    complete: true,
    error: null,
    passed: null,
    failed_checks: [],
    cache_hit: false,
    ...extra,
  };
}

/** A config's summary as the engine writes it, for a local target at n_ctx 512. */
const SUMMARY = {
  variant: "fewshot",
  target: "gemma",
  n_ctx: 512,
  threads: 2,
  batch: 2048,
  kv_type: "f16",
  n_gpu_layers: 0,
  parallel: 1,
  prefix_cache: false,
  settings_label: "n_ctx 512",
  runs: 2,
  errors: 0,
  latency_p50_ms: 100,
  latency_p95_ms: 200,
  latency_p99_ms: 200,
  latency_mean_ms: 150,
  latency_sd_ms: 50,
  ttft_p50_ms: 30,
  ttft_p95_ms: 40,
  prompt_tokens_per_s_mean: 500,
  gen_tokens_per_s_mean: 50,
  input_tokens_mean: 30,
  output_tokens_mean: 8,
  kv_cache_bytes: 3 << 20,
  peak_rss_bytes_max: 400 << 20,
  pass_rate: 1,
  score_mean: null,
  consistency_similarity: null,
  consistency_exact_rate: null,
  cost_per_run_usd: null,
  cost_per_1k_usd: null,
  model_load_ms: null,
  context_create_ms: null,
  aggregate_tokens_per_s: 48,
  warm_runs: 0,
  contended_runs: 0,
  cached_tokens_mean: null,
  ttft_saved_ms_estimate: null,
  ttft_p50_saved_vs_cold_ms: null,
  cache_hits: 0,
  cache_saved_ms: null,
  cache_saved_usd: null,
} as const;

export function results(configs = 2, cases = ["berlin", "paris"]): ResultsView {
  return {
    experiment_id: 1,
    name: "quickstart",
    status: "completed",
    repetitions: 1,
    configs: Array.from({ length: configs }, (_, index) => ({
      index,
      ...SUMMARY,
      variant: ["fewshot", "bare", "chat"][index] ?? `v${index}`,
      latency_p50_ms: 100 + index * 50,
      gen_tokens_per_s_mean: 50 - index,
      aggregate_tokens_per_s: 48 - index,
      pass_rate: index === 0 ? 1 : 0.5,
    })),
    cases,
    recorded_runs: configs * cases.length,
    planned_runs: configs * cases.length,
    warnings: [],
    grading: [],
    pareto_front: [0],
    latencies_ms: Array.from({ length: configs }, (_, index) => [100 + index * 50, 110 + index * 50]),
    budget: null,
  };
}

/** Serves `cells` through the real IPC mock as the backend's grid pages would, plus `other` commands. */
export function mockBackend(cells: Cell[], other: Record<string, (args: unknown) => unknown> = {}) {
  mockIPC((cmd, args) => {
    if (cmd === "grid_page") {
      const { repetition, firstCase, caseCount } = args as { repetition: number; firstCase: number; caseCount: number };
      return cells.filter((c) => c.repetition === repetition && c.case >= firstCase && c.case < firstCase + caseCount);
    }
    const handler = other[cmd];
    if (!handler) throw new Error(`unexpected command ${cmd}`);
    return handler(args);
  });
}
