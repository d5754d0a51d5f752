#!/usr/bin/env bash
# Builds llama.cpp's llama-server, the real OpenAI-compatible server one end-to-end test serves
# the default model with (tests/served.rs). Prints the binary's path.
#
# Source: the full llama.cpp in llama-cpp-python's PyPI sdist (vendor/llama.cpp); the
# llama-cpp-sys-2 crate ships only the library, not the tools. Built without the web UI (it
# would be downloaded) and without OpenSSL or curl (the test serves plain HTTP on 127.0.0.1).
# Cached in ~/.cache/tradeoff/llama-server/<version>, outside the clone, so only the first run
# pays for the build (several minutes on 2 cores). Idempotent.
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
# The recipe's own revision is part of the cache key: a changed build recipe builds anew.
RECIPE=2
CACHE="${LLAMA_SERVER_CACHE:-$HOME/.cache/tradeoff/llama-server}/$VERSION-r$RECIPE"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BINARY="$CACHE/build/bin/llama-server"

if [ -x "$BINARY" ]; then
  echo "$BINARY"
  exit 0
fi

echo "building llama-server from llama-cpp-python $VERSION's llama.cpp (first time only)" >&2
rm -rf "$CACHE"
mkdir -p "$CACHE/sdist"
python3 -m pip download --quiet --no-deps --no-binary :all: --disable-pip-version-check \
  -d "$CACHE/sdist" "llama-cpp-python==$VERSION" >&2
tar -xzf "$CACHE"/sdist/llama_cpp_python-*.tar.gz -C "$CACHE/sdist"
SRC="$(find "$CACHE/sdist" -maxdepth 3 -type d -path '*vendor/llama.cpp' -print -quit)"
[ -f "$SRC/tools/server/CMakeLists.txt" ] || { echo "error: no llama-server sources in the sdist" >&2; exit 1; }

# It runs only on the machine that built it (a test peer, never shipped), so it is built for
# this CPU; Tradeoff's CMake additions (the AMX intrinsics fix) apply as to the worker's build.
cmake -S "$SRC" -B "$CACHE/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_OPENMP=ON \
  -DCMAKE_PROJECT_INCLUDE="$ROOT/crates/llama/ggml/tradeoff-ggml.cmake" \
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON >&2
cmake --build "$CACHE/build" --target llama-server -j "$(nproc)" >&2
[ -x "$BINARY" ] || { echo "error: the build did not produce $BINARY" >&2; exit 1; }
echo "$BINARY"
