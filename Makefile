# The two promises of the README: `make run` and `make test` set everything up and go.
SHELL := /bin/bash
CARGO ?= cargo
# A build cache outside the checkout survives fresh clones (CI clones anew every run);
# llama.cpp takes minutes to compile cold on two cores.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/tradeoff/target

QUICKSTART := fixtures/experiments/quickstart.yaml

.PHONY: run test setup system model build lint clean

## run: set up, then run the quickstart experiment and show its summary
run: setup
	$(CARGO) run --quiet -p tradeoff-cli -- run $(QUICKSTART)

## test: set up, then check formatting and lints and run every test
test: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) test --workspace --locked

setup: system model

## system: install missing system packages (apt)
system:
	@bash scripts/setup-system.sh

## model: fetch the default model (Gemma 3 270M Q4_K_M) into the data folder, once
model:
	@bash scripts/fetch-model.sh

build: setup
	$(CARGO) build --workspace --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

clean:
	$(CARGO) clean
