# Shared by the scripts that set a server (llama-server, tradeoff serve) against the default
# model: where the model is, a work folder removed on exit with the server started last, and a
# wait for a server's health route. Source it after `set -euo pipefail`.

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tradeoff/target}"
MODEL="${TRADEOFF_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/tradeoff}/models/gemma-3-270m-q4_k_m.gguf"
[ -f "$MODEL" ] || { echo "error: model not found: $MODEL (run \`make model\`)" >&2; exit 2; }

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_ready() {
  for _ in $(seq 600); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "error: $1 did not answer" >&2
  exit 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
