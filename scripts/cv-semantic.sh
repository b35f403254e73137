#!/usr/bin/env bash
# Chooses the semantic leg's settings by 5-fold cross-validation and reports the cross-validated
# figure first, then the in-sample one. A setting is `[search] semantic_weight` with the
# similarity's shares (`phrasing_share` for entries with other phrasings, `question_share` for
# entries with their question only). For each setting, `madoguchi eval` ranks every query
# (per-query lines); then each set's queries, in id order, are dealt into five folds (query i to
# fold i mod 5), each fold is scored with the setting that maximised Success@1 on the other four
# (ties: the earlier setting in grid order), and the held-out results are pooled. With `both` or
# `all` the choice for fold k maximises the sum of the sets' Success@1 on their other folds: one
# setting for all of them, as the shipped defaults are one.
#
#   scripts/cv-semantic.sh                       # bundled dev set
#   scripts/cv-semantic.sh localgovfaq           # ../shared/eval/localgovfaq (dev split)
#   scripts/cv-semantic.sh multilingual          # the other-language questions alone
#   scripts/cv-semantic.sh both                  # both, one setting chosen per fold
#   scripts/cv-semantic.sh all                   # both and the other-language questions
#   WEIGHTS="0 20 40" scripts/cv-semantic.sh     # other weights (also PHRASING_SHARES,
#                                                # QUESTION_SHARES, FOREIGN_SHARES,
#                                                # FOREIGN_WORD_WEIGHTS)
#   REUSE=1 scripts/cv-semantic.sh all           # keep runs already in OUT (same build and FAQ only)
#
# localgovFAQ's entries have no other phrasings and every bundled entry has some, so only
# question_share varies on localgovFAQ and only phrasing_share on the bundled set (the other is
# left at its default, which does not change the ranking there). A question in another language
# is ranked by similarity with foreign_phrasing_share plus foreign_word_weight for its Japanese
# words, so on that set (tests/eval/queries-multilingual.tsv, over the bundled FAQ) only those two
# vary, and only there.
#
# Needs scripts/setup-ipadic.sh and scripts/setup-e5.sh done and a release build
# (cargo build --release). The first run embeds the FAQ's texts (minutes); the vector cache
# beside the model makes later runs fast.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MADOGUCHI_BIN:-target/release/madoguchi}
WEIGHTS=${WEIGHTS:-"240 320 400 480 640 800"}
PHRASING_SHARES=${PHRASING_SHARES:-"0.4 0.5 0.6 0.7 0.8"}
QUESTION_SHARES=${QUESTION_SHARES:-"0.2 0.3 0.4"}
FOREIGN_SHARES=${FOREIGN_SHARES:-"0.2 0.3 0.4 0.5 0.6"}
FOREIGN_WORD_WEIGHTS=${FOREIGN_WORD_WEIGHTS:-"0 0.01 0.02 0.03 0.04 0.06"}
SET=${1:-bundled}
OUT=${OUT:-target/cv-semantic/$SET}
mkdir -p "$OUT"
case "$SET" in
  bundled) SETS=(bundled) ;;
  localgovfaq) SETS=(localgovfaq) ;;
  both) SETS=(localgovfaq bundled) ;;
  multilingual) SETS=(multilingual) ;;
  all) SETS=(localgovfaq bundled multilingual) ;;
  *) echo "cv-semantic: unknown set '$SET' (bundled, localgovfaq, multilingual, both or all)" >&2
     exit 2 ;;
esac
L=../shared/eval/localgovfaq
for s in "${SETS[@]}"; do
  case "$s" in
    bundled)
      DATA=(--faq faq --index "$OUT/index" --queries tests/eval/queries.tsv --qrels tests/eval/qrels.txt)
      KEY=phrasing_share; SHARES=$PHRASING_SHARES ;;
    localgovfaq)
      DATA=(--corpus "$L/corpus.jsonl" --queries "$L/queries_dev.tsv" --qrels "$L/qrels_dev.txt")
      KEY=question_share; SHARES=$QUESTION_SHARES ;;
    multilingual)
      DATA=(--faq faq --index "$OUT/index" --queries tests/eval/queries-multilingual.tsv
        --qrels tests/eval/qrels-multilingual.txt)
      KEY=foreign_phrasing_share; SHARES=$FOREIGN_SHARES ;;
  esac
  weights=$WEIGHTS; words="-"
  [[ $s == multilingual ]] && { weights=${WEIGHTS%% *}; words=$FOREIGN_WORD_WEIGHTS; }
  for w in $weights; do
    for fw in $words; do
      for a in $SHARES; do
        run="$OUT/$s-w$w-$KEY$a"
        extra=""
        if [[ $fw != - ]]; then
          run="$OUT/$s-w$w-foreign_word_weight$fw-$KEY$a"
          extra="foreign_word_weight = $fw"
        fi
        [[ ${REUSE:-0} == 1 && -s $run.jsonl ]] && continue
        printf '[search]\nsemantic_weight = %s\n%s = %s\n%s\n' "$w" "$KEY" "$a" "$extra" > "$run.toml"
        echo "cv-semantic: $s, semantic_weight $w, $KEY $a $extra" >&2
        "$BIN" eval "${DATA[@]}" --config "$run.toml" --repeat 1 \
          --per-query "$run.jsonl" --metrics "$run.json" > "$run.txt"
      done
    done
  done
done
python3 - "$OUT" "$WEIGHTS" "$PHRASING_SHARES" "$QUESTION_SHARES" "$FOREIGN_SHARES" \
  "$FOREIGN_WORD_WEIGHTS" "${SETS[@]}" <<'EOF'
import itertools, json, sys
out = sys.argv[1]
values = {"semantic_weight": sys.argv[2].split(), "phrasing_share": sys.argv[3].split(),
          "question_share": sys.argv[4].split(), "foreign_phrasing_share": sys.argv[5].split(),
          "foreign_word_weight": sys.argv[6].split()}
sets = sys.argv[7:]
# What each set's runs vary (the file names above).
varies = {"localgovfaq": ["semantic_weight", "question_share"],
          "bundled": ["semantic_weight", "phrasing_share"],
          "multilingual": ["foreign_word_weight", "foreign_phrasing_share"]}
keys = [k for k in values if any(k in varies[s] for s in sets)]
grid = [dict(zip(keys, combo)) for combo in itertools.product(*(values[k] for k in keys))]
def file(s, g):
    w = g["semantic_weight"] if s != "multilingual" else values["semantic_weight"][0]
    key = varies[s][-1]
    words = f"-foreign_word_weight{g['foreign_word_weight']}" if s == "multilingual" else ""
    return f"{out}/{s}-w{w}{words}-{key}{g[key]}.jsonl"
runs = {s: {} for s in sets}
for s in sets:
    for g in grid:
        f = file(s, g)
        if f not in runs[s]:
            rows = [json.loads(l) for l in open(f)]
            runs[s][f] = {r["qid"]: r["metrics"] for r in rows if r.get("relevant")}
qids = {s: sorted(next(iter(runs[s].values()))) for s in sets}
fold = {s: {q: i % 5 for i, q in enumerate(qids[s])} for s in sets}
names = ["Success@1", "Success@5", "RR@10"]
def mean(s, g, qs, name):
    r = runs[s][file(s, g)]
    return sum(r[q][name] for q in qs) / max(1, len(qs))
def label(g):
    return ", ".join(f"{k} {v}" for k, v in g.items())
pooled = {s: {n: 0.0 for n in names} for s in sets}
chosen = []
for f in range(5):
    train = {s: [q for q in qids[s] if fold[s][q] != f] for s in sets}
    best = max(range(len(grid)), key=lambda i: (round(sum(mean(s, grid[i], train[s], "Success@1") for s in sets), 9), -i))
    chosen.append(grid[best])
    for s in sets:
        r = runs[s][file(s, grid[best])]
        for n in names:
            pooled[s][n] += sum(r[q][n] for q in qids[s] if fold[s][q] == f)
print(f"sets: {' + '.join(sets)}; settings tried: {len(grid)} ("
      + "; ".join(f"{k} {' '.join(values[k])}" for k in keys) + ")")
for s in sets:
    print(f"{s}, 5-fold cross-validated ({len(qids[s])} queries in scope): "
          + ", ".join(f"{n} {pooled[s][n] / len(qids[s]):.3f}" for n in names))
print("settings chosen per fold: " + "; ".join(label(g) for g in chosen))
order = sorted(range(len(grid)), key=lambda i: (-sum(mean(s, grid[i], qids[s], "Success@1") for s in sets), i))
print("in sample, best settings first:")
for i in order[:8]:
    g = grid[i]
    print(f"  {label(g)}: " + "; ".join(s + " " + ", ".join(f"{n} {mean(s, g, qids[s], n):.3f}" for n in names) for s in sets))
EOF
