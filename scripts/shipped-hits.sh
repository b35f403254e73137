#!/usr/bin/env bash
# Writes what `madoguchi eval --hits` gives with the shipped settings (an empty configuration
# file) for the experiments that re-rank those hits (scripts/experiment-rescoring.sh,
# scripts/experiment-second-model.sh): DIR/bundled.jsonl for the bundled dev set (its index in
# DIR/index) and, when ../shared/eval/localgovfaq is there, DIR/localgovfaq.jsonl; says so on
# stderr when it is not.
#
#   scripts/shipped-hits.sh DIR            # needs a release build (target/release/madoguchi)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/shipped-hits.sh DIR}
BIN=target/release/madoguchi
mkdir -p "$OUT"
: > "$OUT/shipped.toml"
"$BIN" eval --faq faq --index "$OUT/index" --queries tests/eval/queries.tsv \
  --qrels tests/eval/qrels.txt --config "$OUT/shipped.toml" --repeat 1 \
  --hits "$OUT/bundled.jsonl" >/dev/null 2>&1
L=../shared/eval/localgovfaq
rm -f "$OUT/localgovfaq.jsonl"
if [[ -f $L/corpus.jsonl ]]; then
  "$BIN" eval --corpus "$L/corpus.jsonl" --queries "$L/queries_dev.tsv" --qrels "$L/qrels_dev.txt" \
    --config "$OUT/shipped.toml" --repeat 1 --hits "$OUT/localgovfaq.jsonl" >/dev/null 2>&1
else
  echo "shipped-hits: $L is missing; the bundled dev set alone" >&2
fi
