#!/usr/bin/env bash
# Asks every national entry's question and other phrasings, word for word, as a resident's
# question, and scores what madoguchi does with them (issue #17: a question that is an entry's
# own phrasing is answered directly, not offered as もしかして). A phrasing that several entries
# share counts each of them as relevant. Extra arguments go to `madoguchi eval` (`--config F`,
# `--per-query F`).
#
#   scripts/own-phrasings.sh
#   scripts/own-phrasings.sh --config lexical.toml    # e.g. [search] semantic_weight = 0
#   MADOGUCHI_BIN=old/madoguchi scripts/own-phrasings.sh   # another build (not rebuilt)
#
# Needs scripts/setup-ipadic.sh (and scripts/setup-e5.sh for the semantic leg) done.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/own-phrasings
mkdir -p "$OUT"
if [[ -z ${MADOGUCHI_BIN:-} ]]; then
  cargo build --release --locked --quiet
fi
BIN=${MADOGUCHI_BIN:-target/release/madoguchi}
"$BIN" export --faq faq > "$OUT/national.jsonl"
python3 - "$OUT" <<'PY'
import json, sys, unicodedata
out = sys.argv[1]
def wording(text):
    # As madoguchi compares them (retrieve::wording): NFKC, lowercase, letters and digits only.
    return "".join(c for c in unicodedata.normalize("NFKC", text).lower() if c.isalnum())
asked, owners = [], {}
for line in open(f"{out}/national.jsonl", encoding="utf-8"):
    e = json.loads(line)
    for text in [e["question"], *e.get("alt_questions", [])]:
        asked.append(text)
        owners.setdefault(wording(text), set()).add(e["id"])
with open(f"{out}/queries.tsv", "w", encoding="utf-8") as q, open(f"{out}/qrels.txt", "w") as r:
    for i, text in enumerate(asked, 1):
        q.write(f"p{i:05d}\t{' '.join(text.split())}\n")
        for id in sorted(owners[wording(text)]):
            r.write(f"p{i:05d} 0 {id} 2\n")
PY
"$BIN" eval --faq faq --index "$OUT/index" --queries "$OUT/queries.tsv" --qrels "$OUT/qrels.txt" \
  --repeat 1 "$@"
