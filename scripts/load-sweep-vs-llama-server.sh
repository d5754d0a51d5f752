#!/usr/bin/env bash
# One `tradeoff load --sweep` of the default model through `tradeoff serve` and one through
# llama.cpp's llama-server, same threads, same slots, same synthetic prompts and output length:
# both curves and knees side by side (issue: load and capacity).
#
#   scripts/load-sweep-vs-llama-server.sh
#   SLOTS (4), THREADS (2), N_CTX (512 per slot), LEVEL_SECONDS (10), LEVELS (4),
#   INPUT_TOKENS (64), OUTPUT_TOKENS (32), SLO (ttft=1s,e2e=4s) override.
#
# Both servers generate every one of the OUTPUT_TOKENS (`ignore_eos` on llama-server, the
# winner's max_tokens with no stop on tradeoff serve), so the two see the same work.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SLOTS="${SLOTS:-4}"
THREADS="${THREADS:-2}"
N_CTX="${N_CTX:-512}"
SECONDS_PER_LEVEL="${LEVEL_SECONDS:-10}"
LEVELS="${LEVELS:-4}"
INPUT_TOKENS="${INPUT_TOKENS:-64}"
OUTPUT_TOKENS="${OUTPUT_TOKENS:-32}"
SLO="${SLO:-ttft=1s,e2e=4s}"
# shellcheck source=lib/servers.sh
source "$ROOT/scripts/lib/servers.sh"

cd "$ROOT"
cargo build --quiet --locked --release -p tradeoff-cli
TRADEOFF="$CARGO_TARGET_DIR/release/tradeoff"
LLAMA_SERVER="$(bash scripts/build-llama-server.sh)"

# The winner tradeoff serves: a plain prompt measured once on the same settings, no stop
# sequence, max_tokens the output length.
cat > "$WORK/e.yaml" <<YAML
schema: 1
variants: [{id: plain, prompt: "{{ text }}"}]
cases: [{vars: {text: "Once upon a time"}}]
targets: [{id: q4, model: default, n_ctx: $N_CTX, threads: $THREADS, max_tokens: $OUTPUT_TOKENS}]
YAML
"$TRADEOFF" run --db "$WORK/db.sqlite3" "$WORK/e.yaml" >/dev/null
"$TRADEOFF" winner latest --db "$WORK/db.sqlite3" -o "$WORK/winner.json" >/dev/null

sweep() {
  "$TRADEOFF" load --db "$WORK/db.sqlite3" --base-url "$1" --model "$2" --sweep --max-concurrency "$((SLOTS * 2))" \
    --sweep-levels "$LEVELS" --duration "${SECONDS_PER_LEVEL}s" --warmup 2s --input-tokens "$INPUT_TOKENS" \
    --output-tokens "$OUTPUT_TOKENS" --slo "$SLO" $3
}

echo "== llama-server ($SLOTS slots, $THREADS threads)"
"$LLAMA_SERVER" --host 127.0.0.1 --port 18181 -m "$MODEL" -c $((N_CTX * SLOTS)) -np "$SLOTS" \
  -t "$THREADS" --no-jinja --log-disable >/dev/null 2>&1 &
SERVER_PID=$!
wait_ready http://127.0.0.1:18181/health
sweep http://127.0.0.1:18181/v1 default --ignore-eos
stop_server

echo "== tradeoff serve ($SLOTS slots, $THREADS threads)"
"$TRADEOFF" serve "$WORK/winner.json" --port 18182 --parallel "$SLOTS" --no-log >/dev/null 2>&1 &
SERVER_PID=$!
wait_ready http://127.0.0.1:18182/health
sweep http://127.0.0.1:18182/v1 served ""
