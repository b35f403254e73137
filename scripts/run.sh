#!/usr/bin/env bash
# Builds everything needed on a fresh machine (dictionary, release binary), then runs madoguchi on
# the bundled FAQ. With no argument it starts the service on http://127.0.0.1:8080 (SQLite under
# data/, no LLM, no external database); `scripts/run.sh <subcommand> ...` passes through, and
# `scripts/run.sh "質問"` searches from the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-ipadic.sh
cargo build --release --locked --quiet
BIN=target/release/madoguchi
case "${1:-}" in
  "") exec "$BIN" serve ;;
  index|search|check|export|analyze|serve|eval|help|-h|--help|-V|--version) exec "$BIN" "$@" ;;
  *) exec "$BIN" search "$@" ;;
esac
