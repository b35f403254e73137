#!/usr/bin/env bash
# Builds everything needed on a fresh machine (dictionary, the `serve` binary), then runs madoguchi on
# the bundled FAQ. With no argument it starts the service on http://127.0.0.1:8080 (SQLite under
# data/, no LLM, no external database); `scripts/run.sh <subcommand> ...` passes through, and
# `scripts/run.sh "質問"` searches from the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenMP threads of the sentence model spin while they wait by default; on a busy CPU that
# stalls every embedding (crates/e5/README.md, "Speed and threads").
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# Two malloc arenas, not one per thread that allocates: a lower peak under a burst of new
# questions (docs/benchmarks.md, "New questions under load").
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
# The system libraries the build links against (SQLite, OpenSSL), from apt when missing.
bash scripts/setup-build.sh
# The sentence model of the semantic leg (used when [search] semantic_weight > 0), before the
# build: its engine is compiled only when its sources are there. Without it the service searches
# lexical only and says so.
bash scripts/setup-e5.sh || echo "run.sh: the sentence model could not be set up; lexical search only" >&2
# The debug build (dependencies unoptimised, the e5 engine and hashing optimised: Cargo.toml),
# the one scripts/test.sh builds: about a third of the CPU time of an optimised build, which a
# fresh two-core machine would spend before serving (README.md, "How long"). Production builds
# use --release (docs/operations.md).
cargo build --locked --quiet --bin madoguchi
BIN=target/debug/madoguchi
bash scripts/setup-ipadic.sh "$BIN"
case "${1:-}" in
  "") exec "$BIN" serve ;;
  index|search|ask|check|export|analyze|serve|eval|user|municipality|faq|help|-h|--help|-V|--version) exec "$BIN" "$@" ;;
  *) exec "$BIN" search "$@" ;;
esac
