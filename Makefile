# `make run` starts the daemon on a project-local SoftHSM2 token and SQLite file;
# `make test` runs the whole suite. Both install what is missing first.
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export SOFTHSM2_CONF := $(CURDIR)/var/softhsm2.conf
CARGO ?= cargo
PYTHON ?= python3
CLOUD_VENV := var/cloud-venv
CLOUD_REQUIREMENTS := tests/cloud_client/requirements.txt

.PHONY: run test deps token build bench bench-scale lint cloud-venv

deps:
	@command -v softhsm2-util >/dev/null && [ -e /usr/lib/softhsm/libsofthsm2.so ] || { \
	  echo "installing softhsm2"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq softhsm2 < /dev/null; }
	@# tests/token_loss.rs compiles a PKCS#11 fault-injecting shim with cc.
	@command -v cc >/dev/null || { \
	  echo "installing a C compiler"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq build-essential < /dev/null; }
	@command -v $(CARGO) >/dev/null || { echo "cargo (Rust) is required: see README.md"; exit 1; }

# The google-cloud-kms Python client that tests/cloud_client.rs drives, in a project-local
# virtualenv; made again when the requirements differ from the ones it was made with, or when
# its packages no longer import.
cloud-venv:
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "installing python3-venv and python3-pip"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3 python3-venv python3-pip < /dev/null; }
	@cmp -s $(CLOUD_REQUIREMENTS) $(CLOUD_VENV)/requirements.txt && \
	  $(CLOUD_VENV)/bin/python -c 'import google.cloud.kms_v1, cryptography' 2>/dev/null || { \
	  echo "making $(CLOUD_VENV) from $(CLOUD_REQUIREMENTS)"; \
	  rm -rf $(CLOUD_VENV) && \
	  $(PYTHON) -m venv $(CLOUD_VENV) && \
	  $(CLOUD_VENV)/bin/pip install -q --disable-pip-version-check -r $(CLOUD_REQUIREMENTS) && \
	  cp $(CLOUD_REQUIREMENTS) $(CLOUD_VENV)/requirements.txt; }

token: deps
	@softhsm/dev-token.sh

build: deps
	$(CARGO) build --release --locked

run: token build
	@echo "AWS CLI: export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY AWS_DEFAULT_REGION=us-east-1"
	@./target/release/hsmkms --config config/dev.toml token create-kek --so-pin-file var/dev-so.pin
	./target/release/hsmkms --config config/dev.toml

# The suite drives the development clock, so it builds with the dev-clock feature; release
# builds (make build, make run) never have it.
# The second pass runs the suites that make and use keys again with every test daemon in
# wrapped custody (tests/common: HSMKMS_TEST_CUSTODY), so both modes stay tested.
WRAPPED_TESTS := lifecycle key_state_matrix errors aliases grants rotation tags_and_policies \
  audit security cloud_kms
WRAPPED_SUITES := $(WRAPPED_TESTS:%=--test %)

test: deps lint cloud-venv
	$(CARGO) test --locked --features dev-clock --lib --tests -- --test-threads=2
	HSMKMS_TEST_CUSTODY=wrapped $(CARGO) test --locked --features dev-clock $(WRAPPED_SUITES) -- --test-threads=2

bench: deps
	$(CARGO) bench --locked --bench load

# Start-up time and memory with BENCH_KEYS synthetic keys in the sidecar (docs/performance.md).
bench-scale: deps
	BENCH_KEYS=$${BENCH_KEYS:-1000000} $(CARGO) bench --locked --bench scale

lint: deps
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --locked --features dev-clock -- -D warnings
	$(CARGO) clippy --locked -- -D warnings
