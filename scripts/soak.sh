#!/usr/bin/env bash
# Soak: SOAK_RUNS remote runs (default 10000) at SOAK_CONCURRENCY (default 64) through the real
# `tradeoff` binary against the fake provider of tests/support/sse_server.rs on 127.0.0.1, with
# 500s, 429s (Retry-After: 0), broken streams and slow first tokens mixed in. Fails unless every
# planned run is recorded once with the error class of its fault and the binary's RSS grows
# less than 10 % after warm-up; prints the RSS curve (time, requests answered, MiB) and totals.
#
#   scripts/soak.sh                      SOAK_RUNS=2000 SOAK_CONCURRENCY=16 scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/tradeoff/target}"
export SOAK_RUNS="${SOAK_RUNS:-10000}" SOAK_CONCURRENCY="${SOAK_CONCURRENCY:-64}"
cargo test --workspace --locked --features tradeoff-app/custom-protocol --test tests -- \
    --ignored soak --nocapture
