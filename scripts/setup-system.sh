#!/usr/bin/env bash
# Installs what Tradeoff builds and tests with, when it is missing (Debian/Ubuntu).
# Idempotent: does nothing when everything is present.
set -euo pipefail

PACKAGES=(
  # llama.cpp: cmake and a C/C++ compiler; bindgen reads its headers through libclang
  build-essential cmake clang libclang-dev pkg-config
  # `cargo clippy` and `cargo test` each build llama.cpp in a build folder of their own (cargo
  # runs a build script apart for check and for build); llama.cpp's CMake compiles through ccache
  # when it finds it, so the second build is cache hits (see CCACHE_BASEDIR in the Makefile)
  ccache
  # `tradeoff serve` is tested with real clients: curl, and the openai package in a venv
  curl python3-venv
  # the default model comes from PyPI (and llama-server's sources, for one end-to-end test)
  python3 python3-pip
  # API keys in the OS keyring (Secret Service over D-Bus)
  libdbus-1-dev
  # the desktop app (Tauri 2 on WebKitGTK)
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev libxdo-dev
  # its end-to-end test: a virtual display and WebKit's WebDriver
  xvfb xauth webkit2gtk-driver imagemagick
)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    # A working pip from elsewhere (pyenv, a virtualenv) is as good as Debian's.
    if [ "$package" = python3-pip ] && python3 -m pip --version >/dev/null 2>&1; then
      continue
    fi
    missing+=("$package")
  fi
done
if ! command -v node >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

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
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "error: Node.js $node_major is too old for the UI build (Vite 8 needs Node.js 20 or newer)" >&2
  exit 1
fi
# tauri-driver bridges WebDriver to the app for the end-to-end test.
if ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "installing tauri-driver"
  cargo install tauri-driver --locked --version 2.1.0 --quiet
fi
