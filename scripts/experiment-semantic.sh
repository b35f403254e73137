#!/usr/bin/env bash
# Measures how far semantic signals available from the package registries could take the
# bundled dev set's remaining misses (issue #5): static word vectors (ja_ginza 5.3.0's chiVe
# vectors), general-language word frequency (wordfreq 3.1.1) and a classifier trained on the
# FAQ's own phrasings. Nothing here is part of madoguchi; it prints the figures the closing note
# of issue #5 quotes. Needs python3 with venv and the network to PyPI (about 120 MB).
#
#   scripts/experiment-semantic.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/target/experiment-semantic"
mkdir -p "$OUT"

scripts/setup-ipadic.sh >/dev/null
cargo build --release --locked --quiet
BIN="$ROOT/target/release/madoguchi"

if [[ ! -x "$OUT/venv/bin/python" ]]; then
  python3 -m venv "$OUT/venv"
  "$OUT/venv/bin/pip" install --quiet numpy scikit-learn msgpack
fi
if [[ ! -f "$OUT/ja_ginza/vocab/vectors" || ! -f "$OUT/large_ja.msgpack.gz" ]]; then
  rm -rf "$OUT/wheels" && mkdir -p "$OUT/wheels"
  "$OUT/venv/bin/pip" download --quiet --no-deps -d "$OUT/wheels" ja-ginza==5.3.0 wordfreq==3.1.1
  "$OUT/venv/bin/python" - "$OUT" <<'PY'
import glob, os, shutil, sys, zipfile
out = sys.argv[1]
with zipfile.ZipFile(glob.glob(f"{out}/wheels/ja_ginza-*.whl")[0]) as z:
    for name in ("vectors", "key2row"):
        member = next(n for n in z.namelist() if n.endswith(f"/vocab/{name}"))
        os.makedirs(f"{out}/ja_ginza/vocab", exist_ok=True)
        with z.open(member) as src, open(f"{out}/ja_ginza/vocab/{name}", "wb") as dst:
            shutil.copyfileobj(src, dst)
with zipfile.ZipFile(glob.glob(f"{out}/wheels/wordfreq-*.whl")[0]) as z:
    with z.open("wordfreq/data/large_ja.msgpack.gz") as src, \
            open(f"{out}/large_ja.msgpack.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
fi

"$BIN" eval --faq faq --queries tests/eval/queries.tsv --qrels tests/eval/qrels.txt \
  --repeat 1 --per-query "$OUT/per-query.jsonl" >/dev/null 2>&1
{
  "$BIN" export --faq faq
  for dir in faq/municipalities/*/; do
    "$BIN" export --faq faq --municipality "$(basename "$dir")"
  done
} > "$OUT/entries.jsonl"
# Every text to analyse, one a line, and what each line is (entry phrasing, answer, query).
"$OUT/venv/bin/python" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
keys, texts = [], []
seen = set()
for line in open(f"{out}/entries.jsonl", encoding="utf-8"):
    e = json.loads(line)
    if e["id"] in seen:
        continue
    seen.add(e["id"])
    for p in [e["question"]] + e.get("alt_questions", []):
        keys.append([e["id"], "q"]); texts.append(p)
    keys.append([e["id"], "a"]); texts.append(e["answer"])
for line in open(f"{out}/per-query.jsonl", encoding="utf-8"):
    r = json.loads(line)
    keys.append([r["qid"], "query"]); texts.append(r["text"])
json.dump(keys, open(f"{out}/keys.json", "w", encoding="utf-8"), ensure_ascii=False)
with open(f"{out}/texts.txt", "w", encoding="utf-8") as f:
    for t in texts:
        f.write(" ".join(t.split()) + "\n")
PY
"$BIN" analyze --faq faq --lines < "$OUT/texts.txt" > "$OUT/tokens.jsonl"
"$OUT/venv/bin/python" scripts/experiment_semantic.py "$OUT"
