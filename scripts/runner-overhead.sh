#!/usr/bin/env bash
# Runner overhead of a 100-run local experiment: the time a run takes beyond llama.cpp's own
# prompt and generation work (sampling, detokenization, stop matching, the worker protocol,
# recording), and the time between runs, both relative to the summed inference time.
#
#   scripts/runner-overhead.sh [RUNS]      (default 100; target: total overhead ≤ 2 %)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${1:-100}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tradeoff/target}"
cd "$ROOT"
cargo build --quiet --workspace --locked --features tradeoff-app/custom-protocol --all-targets
TRADEOFF="$CARGO_TARGET_DIR/debug/tradeoff"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
{
  echo "schema: 1"
  echo "name: runner-overhead"
  echo "variants: [{id: count, prompt: 'Count from {{ n }}:'}]"
  echo "cases:"
  for i in $(seq "$RUNS"); do echo "  - {vars: {n: '$i'}}"; done
  echo "targets: [{id: t, model: default, n_ctx: 256, threads: 2, max_tokens: 32}]"
} > "$WORK/overhead.yaml"

"$TRADEOFF" run "$WORK/overhead.yaml" --db "$WORK/db.sqlite3" --json > "$WORK/report.json"

python3 - "$WORK/report.json" <<'PY'
import json, sys
from datetime import datetime
report = json.load(open(sys.argv[1]))
runs = [r for r in report["runs"] if r["metrics"]]
# Inference as llama-bench counts it: wall time inside llama.cpp's decode calls.
inference = sum(r["metrics"]["decode_ms"] for r in runs)
counters = sum(r["metrics"]["prompt_eval_ms"] + r["metrics"]["gen_eval_ms"] for r in runs)
latency = sum(r["metrics"]["latency_ms"] for r in runs)
loads = sum((l["model_load_ms"] or 0) + (l["context_create_ms"] or 0) for t in report["targets"] for l in t["loads"])
parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
wall = (parse(report["finished_at"]) - parse(report["created_at"])).total_seconds() * 1000
within = latency - inference
between = wall - latency - loads
print(f"{len(runs)} runs: inside llama.cpp decode calls {inference:.0f} ms (its own perf counters: {counters:.0f} ms of compute)")
print(f"  within runs (sampling, detokenizing, stops, protocol): {within:.0f} ms = {100 * within / inference:.2f} %")
print(f"  between runs (recording, events, scheduling):          {between:.0f} ms = {100 * between / inference:.2f} %")
print(f"  model load + context creation (not overhead):          {loads:.0f} ms")
print(f"  runner overhead: {100 * (within + between) / inference:.2f} % of inference time (target <= 2 %)")
PY
