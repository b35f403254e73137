#!/usr/bin/env bash
# Chooses [search] semantic_weight by 5-fold cross-validation and reports the cross-validated
# figure first, then the in-sample one. For each weight, `madoguchi eval` ranks every query with
# the semantic leg at that weight (per-query lines); then the queries, in id order, are dealt into
# five folds (query i to fold i mod 5), each fold is scored with the weight that maximised
# Success@1 on the other four (ties: the smaller weight), and the held-out results are pooled.
#
#   scripts/cv-semantic.sh                       # bundled dev set
#   scripts/cv-semantic.sh localgovfaq           # ../shared/eval/localgovfaq (dev split)
#   WEIGHTS="0 20 40" scripts/cv-semantic.sh     # other weights
#
# Needs scripts/setup-ipadic.sh and scripts/setup-e5.sh done and a release build
# (cargo build --release). The first run embeds the FAQ's texts (minutes); the vector cache
# beside the model makes later runs fast.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MADOGUCHI_BIN:-target/release/madoguchi}
WEIGHTS=${WEIGHTS:-"0 80 160 320 640 1280"}
SET=${1:-bundled}
OUT=${OUT:-target/cv-semantic/$SET}
mkdir -p "$OUT"
case "$SET" in
  bundled) DATA=(--faq faq --index "$OUT/index" --queries tests/eval/queries.tsv --qrels tests/eval/qrels.txt) ;;
  localgovfaq)
    L=../shared/eval/localgovfaq
    DATA=(--corpus "$L/corpus.jsonl" --queries "$L/queries_dev.tsv" --qrels "$L/qrels_dev.txt") ;;
  *) echo "cv-semantic: unknown set '$SET' (bundled or localgovfaq)" >&2; exit 2 ;;
esac
for w in $WEIGHTS; do
  printf '[search]\nsemantic_weight = %s\n' "$w" > "$OUT/w$w.toml"
  echo "cv-semantic: $SET, semantic_weight $w" >&2
  "$BIN" eval "${DATA[@]}" --config "$OUT/w$w.toml" --repeat 1 \
    --per-query "$OUT/w$w.jsonl" --metrics "$OUT/w$w.json" > "$OUT/w$w.txt"
done
python3 - "$OUT" $WEIGHTS <<'EOF'
import json, sys
out, weights = sys.argv[1], sys.argv[2:]
runs = {}
for w in weights:
    rows = [json.loads(l) for l in open(f"{out}/w{w}.jsonl")]
    runs[w] = {r["qid"]: r["metrics"] for r in rows if r.get("relevant")}
qids = sorted(runs[weights[0]])
fold = {q: i % 5 for i, q in enumerate(qids)}
names = ["Success@1", "Success@5", "RR@10"]
def mean(w, qs, name):
    return sum(runs[w][q][name] for q in qs) / max(1, len(qs))
pooled = {n: 0.0 for n in names}
chosen = []
for f in range(5):
    train = [q for q in qids if fold[q] != f]
    test = [q for q in qids if fold[q] == f]
    best = max(weights, key=lambda w: (round(mean(w, train, "Success@1"), 9), -float(w)))
    chosen.append(best)
    for n in names:
        pooled[n] += sum(runs[best][q][n] for q in test)
print(f"queries in scope: {len(qids)}; weights tried: {' '.join(weights)}")
print("5-fold cross-validated: " + ", ".join(f"{n} {pooled[n] / len(qids):.3f}" for n in names)
      + f" (weights chosen per fold: {' '.join(chosen)})")
for w in weights:
    print(f"in sample, semantic_weight {w}: " + ", ".join(f"{n} {mean(w, qids, n):.3f}" for n in names))
EOF
