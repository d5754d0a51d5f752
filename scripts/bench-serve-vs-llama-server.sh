#!/usr/bin/env bash
# `tradeoff serve` against llama.cpp's llama-server on the default model, same threads, same
# slots, same prompt and load, alternating the two so that drift of the machine hits both alike.
# Prints aggregate output tokens/s and TTFT p50 of each and the ratios tradeoff / llama-server.
#
#   scripts/bench-serve-vs-llama-server.sh [ROUNDS]          (default 3)
#   CONCURRENCY (8), REQUESTS (32), MAX_TOKENS (128), THREADS (2), N_CTX (512 per slot) override.
#
# llama-server is the one scripts/build-llama-server.sh builds (llama-cpp-python's llama.cpp,
# for this CPU); its prompt cache is turned off per request (Tradeoff's serving has none). The
# load is scripts/serve-load.py: closed loop, streaming, on 127.0.0.1 only.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS="${1:-3}"
CONCURRENCY="${CONCURRENCY:-8}"
REQUESTS="${REQUESTS:-32}"
MAX_TOKENS="${MAX_TOKENS:-128}"
THREADS="${THREADS:-2}"
N_CTX="${N_CTX:-512}"
# shellcheck source=lib/servers.sh
source "$ROOT/scripts/lib/servers.sh"

cd "$ROOT"
cargo build --quiet --locked -p tradeoff-cli
TRADEOFF="$CARGO_TARGET_DIR/debug/tradeoff"
LLAMA_SERVER="$(bash scripts/build-llama-server.sh)"

PROMPT='Sentence: The first modern Olympic Games opened in Athens in 1896.
JSON: {"city": "Athens", "year": 1896}

Sentence: In 1969 thousands of people gathered in Woodstock for a music festival.
JSON: {"city": "Woodstock", "year": 1969}

Sentence: The Berlin Wall fell in 1989.
JSON:'
printf '%s' "$PROMPT" > "$WORK/prompt.txt"

# The winner to serve: the same prompt measured once on the same settings.
python3 - "$WORK" "$THREADS" "$N_CTX" <<'PY'
import json, sys
work, threads, n_ctx = sys.argv[1], sys.argv[2], sys.argv[3]
prompt = open(f"{work}/prompt.txt").read()
open(f"{work}/e.yaml", "w").write(
    "schema: 1\n"
    f"variants: [{{id: fewshot, prompt: {json.dumps(prompt)}}}]\n"
    "cases: [{vars: {}}]\n"
    f"targets: [{{id: q4, model: default, n_ctx: {n_ctx}, threads: {threads}, max_tokens: 16, stop: [\"\\n\"]}}]\n"
)
PY
"$TRADEOFF" run --db "$WORK/db.sqlite3" "$WORK/e.yaml" >/dev/null
"$TRADEOFF" winner latest --db "$WORK/db.sqlite3" -o "$WORK/winner.json" >/dev/null

for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS: llama-server" >&2
  "$LLAMA_SERVER" --host 127.0.0.1 --port 18181 -m "$MODEL" -c $((N_CTX * CONCURRENCY)) -np "$CONCURRENCY" \
    -t "$THREADS" --no-jinja --log-disable >/dev/null 2>&1 &
  SERVER_PID=$!
  wait_ready http://127.0.0.1:18181/health
  python3 scripts/serve-load.py http://127.0.0.1:18181/v1 "$CONCURRENCY" "$REQUESTS" "$MAX_TOKENS" "$WORK/prompt.txt" \
    > "$WORK/llama-$round.json"
  stop_server

  echo "round $round/$ROUNDS: tradeoff serve" >&2
  "$TRADEOFF" serve "$WORK/winner.json" --port 18182 --parallel "$CONCURRENCY" >/dev/null 2>&1 &
  SERVER_PID=$!
  wait_ready http://127.0.0.1:18182/health
  python3 scripts/serve-load.py http://127.0.0.1:18182/v1 "$CONCURRENCY" "$REQUESTS" "$MAX_TOKENS" "$WORK/prompt.txt" \
    > "$WORK/tradeoff-$round.json"
  stop_server
done

python3 - "$WORK" "$ROUNDS" "$CONCURRENCY" <<'PY'
import json, statistics, sys
work, rounds, concurrency = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(name):
    runs = [json.load(open(f"{work}/{name}-{r}.json")) for r in range(1, rounds + 1)]
    for run in runs:
        if run["errors"]:
            raise SystemExit(f"{name}: {run['errors']}")
    return runs
llama, ours = load("llama"), load("tradeoff")
print(f"{concurrency} concurrent streams, {rounds} alternating rounds")
print(f"{'':<24} {'llama-server':>13} {'tradeoff':>10} {'ratio':>7}")
for key, label in (("output_tokens_per_s", "output tokens/s"), ("ttft_p50_ms", "TTFT p50 ms"),
                   ("ttft_p95_ms", "TTFT p95 ms"), ("latency_p50_ms", "latency p50 ms")):
    a = statistics.mean(r[key] for r in llama)
    b = statistics.mean(r[key] for r in ours)
    print(f"{label:<24} {a:>13.1f} {b:>10.1f} {b / a:>7.3f}")
print("tokens per round:", [r["output_tokens"] for r in llama], [r["output_tokens"] for r in ours])
PY
