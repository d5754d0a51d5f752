#!/usr/bin/env bash
# Compares `tradeoff bench` with llama.cpp's own llama-bench on the same model, threads and
# llama.cpp version, alternating the two so that drift of the machine hits both alike, and prints
# the ratio Tradeoff / llama-bench for pp and tg.
#
#   scripts/bench-vs-llama-bench.sh [MODEL] [ROUNDS]      (defaults: the default model, 3 rounds)
#   THREADS, N_PROMPT, N_GEN, REPS override 2 threads, pp512, tg128, 5 repetitions per round.
#
# Same version: `llama-cpp-sys-2` vendors llama.cpp's library sources but not its tools, so the
# crate's llama.cpp folder is copied and each tool folder that lacks a CMakeLists.txt is filled
# from the full llama.cpp in llama-cpp-python's PyPI sdist (vendor/llama.cpp). The build uses
# the flags Tradeoff's build uses (dynamic backends, no -march=native, OpenMP, Release, Tradeoff's
# CMake additions) and no CPU code of its own: llama-bench loads the very libggml-cpu-*.so files
# Tradeoff's worker loads, picked by the same score, so both run the same CPU code. It is cached
# in ~/.cache/tradeoff/llama-bench; the first run takes several minutes on 2 cores.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODEL="${1:-default}"
ROUNDS="${2:-3}"
THREADS="${THREADS:-2}"
N_PROMPT="${N_PROMPT:-512}"
N_GEN="${N_GEN:-128}"
REPS="${REPS:-5}"
CACHE="${LLAMA_BENCH_CACHE:-$HOME/.cache/tradeoff/llama-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tradeoff/target}"

if [ "$MODEL" = default ]; then
  MODEL="${TRADEOFF_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/tradeoff}/models/gemma-3-270m-q4_k_m.gguf"
fi
[ -f "$MODEL" ] || { echo "error: model not found: $MODEL (run \`make model\`)" >&2; exit 2; }

cd "$ROOT"
cargo build --quiet --workspace --locked --features tradeoff-app/custom-protocol --all-targets
TRADEOFF="$CARGO_TARGET_DIR/debug/tradeoff"

SYS_MANIFEST="$(cargo metadata --format-version 1 --locked | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "llama-cpp-sys-2":
        print(p["manifest_path"]); break')"
CRATE_LLAMA="$(dirname "$SYS_MANIFEST")/llama.cpp"
VERSION="$(basename "$(dirname "$SYS_MANIFEST")")"
RECIPE=2
SRC="$CACHE/$VERSION-r$RECIPE/src"
BUILD="$CACHE/$VERSION-r$RECIPE/build"
LLAMA_BENCH="$BUILD/bin/llama-bench"

if [ ! -x "$LLAMA_BENCH" ]; then
  echo "building llama-bench from $VERSION's llama.cpp (tools from llama-cpp-python's sdist)" >&2
  rm -rf "$CACHE/$VERSION-r$RECIPE"
  mkdir -p "$CACHE/$VERSION-r$RECIPE/sdist"
  cp -r "$CRATE_LLAMA" "$SRC"
  python3 -m pip download --quiet --no-deps --no-binary :all: --disable-pip-version-check \
    -d "$CACHE/$VERSION-r$RECIPE/sdist" llama-cpp-python
  tar -xzf "$CACHE/$VERSION-r$RECIPE"/sdist/llama_cpp_python-*.tar.gz -C "$CACHE/$VERSION-r$RECIPE/sdist"
  VENDOR="$(find "$CACHE/$VERSION-r$RECIPE/sdist" -maxdepth 3 -type d -path '*vendor/llama.cpp' -print -quit)"
  if [ ! -f "$SRC/tools/llama-bench/CMakeLists.txt" ]; then
    rm -rf "$SRC/tools/llama-bench" && cp -r "$VENDOR/tools/llama-bench" "$SRC/tools/llama-bench"
  fi
  # Only llama-bench is needed; the crate's tool list names folders it does not ship.
  echo 'add_subdirectory(llama-bench)' > "$SRC/tools/CMakeLists.txt"
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_OPENMP=ON \
    -DGGML_BACKEND_DL=ON -DGGML_CPU=OFF -DBUILD_SHARED_LIBS=ON \
    -DCMAKE_PROJECT_INCLUDE="$ROOT/crates/llama/ggml/tradeoff-ggml.cmake" -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF >/dev/null
  cmake --build "$BUILD" --target llama-bench -j "$(nproc)" >/dev/null
fi
# The CPU code both sides run: the worker's own libraries, beside llama-bench where it looks.
BACKENDS="$(ls -dt "$CARGO_TARGET_DIR"/debug/build/llama-cpp-sys-2-*/out/backends 2>/dev/null | head -1)"
ls "$BACKENDS"/libggml-cpu-*.so >/dev/null 2>&1 || { echo "error: no libggml-cpu-*.so under $CARGO_TARGET_DIR" >&2; exit 1; }
ln -sf "$BACKENDS"/libggml-cpu-*.so "$BUILD/bin/"

RESULTS="$(mktemp -d)"
trap 'rm -rf "$RESULTS"' EXIT
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS: llama-bench" >&2
  "$LLAMA_BENCH" -m "$MODEL" -t "$THREADS" -p "$N_PROMPT" -n "$N_GEN" -r "$REPS" -o json \
    2>/dev/null > "$RESULTS/llama-$round.json"
  echo "round $round/$ROUNDS: tradeoff bench" >&2
  "$TRADEOFF" bench "$MODEL" --no-bandwidth --json -t "$THREADS" -p "$N_PROMPT" -n "$N_GEN" -r "$REPS" \
    > "$RESULTS/tradeoff-$round.json"
done

python3 - "$RESULTS" "$ROUNDS" "$VERSION" <<'PY'
import json, statistics, sys
results, rounds, version = sys.argv[1], int(sys.argv[2]), sys.argv[3]
llama = {"pp": [], "tg": []}
ours = {"pp": [], "tg": []}
for r in range(1, rounds + 1):
    for test in json.load(open(f"{results}/llama-{r}.json")):
        kind = "pp" if test["n_gen"] == 0 else "tg"
        llama[kind].append(test["avg_ts"])
    report = json.load(open(f"{results}/tradeoff-{r}.json"))
    for kind in ("pp", "tg"):
        rate = report[f"{kind}_tokens_per_s"]
        if rate:
            ours[kind].append(rate["mean"])
print(f"llama.cpp {version} (same sources for both), {rounds} alternating rounds")
print(f"{'test':<6} {'llama-bench t/s':>16} {'tradeoff t/s':>14} {'ratio':>7}")
for kind in ("pp", "tg"):
    if llama[kind] and ours[kind]:
        a, b = statistics.mean(llama[kind]), statistics.mean(ours[kind])
        print(f"{kind:<6} {a:>16.2f} {b:>14.2f} {b / a:>7.3f}")
PY
