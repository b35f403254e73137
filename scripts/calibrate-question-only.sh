#!/usr/bin/env bash
# Calibrates `[decision.semantic_question_only]`, the thresholds for a top entry that has no
# other phrasing than its question, on the only labelled set with out-of-scope questions over
# such entries that we have: the bundled dev set's national questions over the national FAQ
# with every entry cut to id, question and answer (as a municipality's own FAQ, or one imported
# from a spreadsheet, often is). Prints the cross-validated decisions first, then the thresholds
# chosen, and (when ../shared/eval/localgovfaq is there) the decisions on localgovFAQ's dev
# questions with them, which the calibration never saw (it has no out-of-scope question, so
# only the share of answerable questions sent to the fallback can be read there).
#
#   scripts/calibrate-question-only.sh          # writes target/calibrate-question-only/
#
# Needs scripts/setup-ipadic.sh and scripts/setup-e5.sh done and a release build
# (cargo build --release). The shipped defaults are in src/answer.rs
# (DecisionConfig::semantic_question_only_default); copy the printed section there or into a
# municipality's madoguchi.toml after reading the localgovFAQ lines: the section printed since
# `fallback_coverage` exists (fallback below similarity 0.86) is not shipped, because it sent
# more of localgovFAQ's answerable questions to the fallback (16.0 % against 13.6 %).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MADOGUCHI_BIN:-target/release/madoguchi}
OUT=${OUT:-target/calibrate-question-only}
L=../shared/eval/localgovfaq
mkdir -p "$OUT"
# The national questions (no municipality column) and their judgements.
awk -F'\t' 'NF == 2' tests/eval/queries.tsv > "$OUT/queries.tsv"
awk 'NR == FNR { keep[$1] = 1; next } keep[$1]' "$OUT/queries.tsv" tests/eval/qrels.txt \
  > "$OUT/qrels.txt"
"$BIN" export --faq faq | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    print(json.dumps({k: e[k] for k in ("id", "question", "answer")}, ensure_ascii=False))
' > "$OUT/corpus.jsonl"
# Starts from the shipped defaults (an empty configuration file).
: > "$OUT/calibrated.toml"
echo "== national questions over entries cut to question + answer: --calibrate"
"$BIN" eval --corpus "$OUT/corpus.jsonl" --queries "$OUT/queries.tsv" --qrels "$OUT/qrels.txt" \
  --config "$OUT/calibrated.toml" --calibrate --metrics "$OUT/calibrated.json" 2>"$OUT/calibrate.log" \
  | grep -E '^(legs|decisions)'
grep -E 'calibrated|left as it was' "$OUT/calibrate.log"
echo
echo "== the section written ($OUT/calibrated.toml)"
awk '/^\[decision.semantic_question_only\]/ { on = 1; print; next } /^\[/ { on = 0 } on' \
  "$OUT/calibrated.toml"
if [[ -f $L/corpus.jsonl ]]; then
  : > "$OUT/shipped.toml"
  for cfg in shipped calibrated; do
    echo
    echo "== localgovFAQ dev (never used to calibrate), the $cfg thresholds"
    "$BIN" eval --corpus "$L/corpus.jsonl" --queries "$L/queries_dev.tsv" --qrels "$L/qrels_dev.txt" \
      --config "$OUT/$cfg.toml" --metrics "$OUT/localgovfaq.$cfg.json" 2>/dev/null | grep -E '^decisions'
  done
fi
