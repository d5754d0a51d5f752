#!/usr/bin/env bash
# Drives the real desktop app end to end: Xvfb + tauri-driver + WebKitWebDriver + WebdriverIO.
# Needs the app built with ui/dist embedded (cargo build --features tradeoff-app/custom-protocol)
# and the `tradeoff` binary beside it. Writes screenshots into e2e/output/.
set -euo pipefail
cd "$(dirname "$0")"
TARGET_DIR="${CARGO_TARGET_DIR:-$(cd .. && pwd)/target}"
export APP_BIN="${APP_BIN:-$TARGET_DIR/debug/tradeoff-app}"
TAURI_DRIVER="${TAURI_DRIVER:-$(command -v tauri-driver || echo "$HOME/.cargo/bin/tauri-driver")}"
export TAURI_DRIVER_PORT="${TAURI_DRIVER_PORT:-4444}"
NATIVE_PORT="${NATIVE_PORT:-4445}"
export E2E_OUTPUT="${E2E_OUTPUT:-$PWD/output}"
mkdir -p "$E2E_OUTPUT"
LOGDIR="$(mktemp -d)"
# A data folder of its own (database, quickstart copy, exports), so the test starts from an empty
# experiment list and never sees a quickstart the user edited; the default model is linked in.
MODEL_FILE=gemma-3-270m-q4_k_m.gguf
REAL_MODEL="${TRADEOFF_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/tradeoff}/models/$MODEL_FILE"
[ -f "$REAL_MODEL" ] || { echo "the default model is missing at $REAL_MODEL; run make model"; exit 1; }
export TRADEOFF_HOME="$LOGDIR/home"
mkdir -p "$TRADEOFF_HOME/models"
ln -s "$REAL_MODEL" "$TRADEOFF_HOME/models/$MODEL_FILE"
export TRADEOFF_DB="${E2E_DB:-$TRADEOFF_HOME/tradeoff.sqlite3}"

# -displayfd: Xvfb picks a free display number and writes it to fd 3.
exec 3>"$LOGDIR/display"
Xvfb -displayfd 3 -screen 0 1400x900x24 -nolisten tcp >"$LOGDIR/xvfb.log" 2>&1 &
XVFB_PID=$!
exec 3>&-
for _ in $(seq 50); do [ -s "$LOGDIR/display" ] && break; sleep 0.1; done
export DISPLAY=":$(head -1 "$LOGDIR/display")"
# setsid: its own process group, so cleanup also ends WebKitWebDriver and the app.
setsid "$TAURI_DRIVER" --port "$TAURI_DRIVER_PORT" --native-port "$NATIVE_PORT" \
  --native-driver "$(command -v WebKitWebDriver)" >"$LOGDIR/tauri-driver.log" 2>&1 &
DRIVER_PID=$!
cleanup() {
  kill -- "-$DRIVER_PID" 2>/dev/null || true
  for _ in $(seq 30); do pgrep -g "$DRIVER_PID" >/dev/null || break; sleep 0.1; done
  kill -9 -- "-$DRIVER_PID" 2>/dev/null || true
  kill "$XVFB_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$LOGDIR"
}
trap cleanup EXIT

up=0
for _ in $(seq 50); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$TAURI_DRIVER_PORT") 2>/dev/null; then up=1; break; fi
  sleep 0.2
done
[ $up -eq 1 ] || { echo "tauri-driver did not start"; cat "$LOGDIR/tauri-driver.log"; exit 1; }

set +e
node --test --test-reporter=spec ${E2E_FILE:-app.e2e.mjs}
rc=$?
set -e
[ $rc -eq 0 ] || { echo "--- tauri-driver log"; tail -50 "$LOGDIR/tauri-driver.log"; echo "--- xvfb log"; tail -5 "$LOGDIR/xvfb.log"; }
exit $rc
