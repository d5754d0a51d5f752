# The two promises of the README: `make run` and `make test` set everything up and go.
SHELL := /bin/bash
CARGO ?= cargo
# A build cache outside the checkout survives fresh clones (CI clones anew every run);
# llama.cpp takes minutes to compile cold on two cores.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/tradeoff/target
export PATH := $(HOME)/.cargo/bin:$(PATH)
# Every cargo command selects the same packages, features and targets (tests and benches too,
# so that dev-dependencies are always in the graph), so that cargo unifies features the same way
# each time and llama.cpp (14 CPU variants) and Tauri are not compiled again for each command: a
# build script's dependencies compiled with other features give llama.cpp a new build folder.
WORKSPACE := --workspace --locked --features tradeoff-app/custom-protocol
# Cargo still runs llama.cpp's build script apart for `clippy` (check) and for `test`/`build`,
# each in its own folder (16 and 19 minutes cold on a 2-core machine): CMake compiles through
# ccache (scripts/setup-system.sh installs it), and paths under this base are hashed relative
# to each folder, so the second build hits the cache instead of compiling llama.cpp's 14 CPU
# variants again.
export CCACHE_BASEDIR ?= $(HOME)

.PHONY: run test setup system model ui-deps ui build quickstart clean llama-server

## run: set up, build, and open the desktop app
run: build
	@if [ -z "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then \
	  echo "error: no display to open the app on (DISPLAY and WAYLAND_DISPLAY are unset); 'make quickstart' runs the quickstart in the terminal" >&2; \
	  exit 1; \
	fi
	$(CARGO_TARGET_DIR)/debug/tradeoff-app

## test: set up, then formatting, lints, type checks and every test (Rust, UI, end to end)
test: setup ui llama-server
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(WORKSPACE) --all-targets -- -D warnings
	npm --prefix ui run --silent lint
	npm --prefix ui test
	TRADEOFF_LLAMA_SERVER="$$(bash scripts/build-llama-server.sh)" $(CARGO) test $(WORKSPACE)
	$(CARGO) build $(WORKSPACE) --all-targets
	bash e2e/run-e2e.sh

setup: system model ui-deps

## system: install missing system packages (apt) and tauri-driver
system:
	@bash scripts/setup-system.sh

## model: fetch the default model (Gemma 3 270M Q4_K_M) into the data folder, once
model:
	@bash scripts/fetch-model.sh

# npm ci only when a lockfile changed since the last install.
ui-deps: ui/node_modules/.installed e2e/node_modules/.installed
%/node_modules/.installed: %/package-lock.json
	npm ci --prefix $* --no-audit --no-fund
	@touch $@

## llama-server: build llama.cpp's server (one end-to-end test serves the default model with it), once
llama-server:
	@bash scripts/build-llama-server.sh >/dev/null

## ui: type-check and build the UI into ui/dist (embedded into the app binary)
ui: ui-deps
	npm --prefix ui run --silent build

build: setup ui
	$(CARGO) build $(WORKSPACE) --all-targets

## quickstart: run the quickstart experiment in the terminal
quickstart: build
	$(CARGO_TARGET_DIR)/debug/tradeoff run fixtures/experiments/quickstart.yaml

clean:
	$(CARGO) clean
	rm -rf ui/dist ui/node_modules e2e/node_modules
