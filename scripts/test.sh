#!/usr/bin/env bash
# Runs every check the project has, from a fresh machine: system packages and the dictionary are
# installed/built first (idempotent), then formatting, lints and all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-ipadic.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --all-targets --locked
