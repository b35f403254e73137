#!/usr/bin/env bash
# Measures re-scoring (issue #17, item 3): whether another combination of the two legs than the
# shipped `score + semantic_weight × meaning` ranks better, cross-validated. `madoguchi eval
# --hits` writes every Japanese question's hits with both legs' signals (lexical score,
# coverage, evidence, the cosines with the entry's question, other phrasings and question +
# answer); scripts/experiment_rescoring.py re-orders them by the shipped form with its weights
# chosen again, by that form plus coverage, evidence and the relative lexical score, and by a
# learned linear function of nine signals, each 5-fold cross-validated over localgovFAQ dev and
# the bundled dev set together. Not part of the product or the tests; numpy and scipy come from
# PyPI into target/ (or set PYTHON to an interpreter that has them).
#
#   scripts/experiment-rescoring.sh        # prints the figures docs/benchmarks.md quotes
#
# Needs scripts/setup-ipadic.sh and scripts/setup-e5.sh done; the first run embeds the FAQs
# (minutes), later runs read the vector cache.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/experiment-rescoring
mkdir -p "$OUT"
cargo build --release --locked --quiet
if [[ -z ${PYTHON:-} ]]; then
  if [[ ! -x $OUT/venv/bin/python ]]; then
    python3 -m venv "$OUT/venv"
    "$OUT/venv/bin/pip" install --quiet 'numpy>=2,<3' 'scipy>=1.13,<2'
  fi
  PYTHON=$OUT/venv/bin/python
fi
scripts/shipped-hits.sh "$OUT"
SETS=()
if [[ -f $OUT/localgovfaq.jsonl ]]; then
  SETS+=("localgovfaq=$OUT/localgovfaq.jsonl")
fi
SETS+=("bundled=$OUT/bundled.jsonl")
"$PYTHON" scripts/experiment_rescoring.py "${SETS[@]}"
