#!/usr/bin/env bash
# Builds everything needed on a fresh machine (dictionary, release binary), then runs madoguchi on
# the bundled FAQ: `scripts/run.sh "質問"` searches; `scripts/run.sh <subcommand> ...` passes through.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-ipadic.sh
cargo build --release --locked --quiet
BIN=target/release/madoguchi
case "${1:-}" in
  "") exec "$BIN" --help ;;
  index|search|check|analyze|serve|eval|help|-h|--help|-V|--version) exec "$BIN" "$@" ;;
  *) exec "$BIN" search "$@" ;;
esac
