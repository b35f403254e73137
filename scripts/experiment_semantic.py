"""How far signals beyond the shipped lexical ones could take the bundled dev set (issue #5).

Run by scripts/experiment-semantic.sh, which prepares the inputs. Prints, for the bundled dev
set (tests/eval), the best fallback recall reachable at fallback precision >= 0.85 by a logistic
regression over the decision signals (in-sample and 5-fold cross-validated), with and without
features from static word vectors (ja_ginza's chiVe vectors) and general-language word
frequency (wordfreq); and the Success@1 reachable by re-ranking madoguchi's top 10 with those
vectors or with a classifier trained on the FAQ's own phrasings. None of this is in the product.

Arguments: WORK_DIR holding per-query.jsonl (madoguchi eval --per-query), entries.jsonl
(madoguchi export), tokens.jsonl (madoguchi analyze --lines over texts.txt), keys.json, and the
unpacked ja_ginza and wordfreq data.
"""

import gzip
import json
import math
import sys
import unicodedata

import msgpack
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.svm import LinearSVC

work = sys.argv[1]
MASK = (1 << 64) - 1


def murmur64(data, seed=1):
    """MurmurHash64A, as spaCy hashes strings into vector keys."""
    m, r = 0xC6A4A7935BD1E995, 47
    h = (seed ^ ((len(data) * m) & MASK)) & MASK
    whole = len(data) // 8
    for i in range(whole):
        k = (int.from_bytes(data[i * 8:i * 8 + 8], "little") * m) & MASK
        k = ((k ^ (k >> r)) * m) & MASK
        h = ((h ^ k) * m) & MASK
    tail = data[whole * 8:]
    if tail:
        for i in range(len(tail) - 1, -1, -1):
            h ^= tail[i] << (8 * i)
        h = (h * m) & MASK
    h = ((h ^ (h >> r)) * m) & MASK
    return h ^ (h >> r)


# --- inputs ---------------------------------------------------------------------------------
rows = [json.loads(line) for line in open(f"{work}/per-query.jsonl", encoding="utf-8")]
entries = {}
for line in open(f"{work}/entries.jsonl", encoding="utf-8"):
    e = json.loads(line)
    entries.setdefault(e["id"], e)
keys = json.load(open(f"{work}/keys.json", encoding="utf-8"))
tokens = {}
for key, line in zip(keys, open(f"{work}/tokens.jsonl", encoding="utf-8")):
    terms = [(t["term"], t["surface"], t["pos"]) for t in json.loads(line)["tokens"] if t["term"]]
    tokens.setdefault(key[0], {}).setdefault(key[1], []).append(terms)
docs = {i: t for i, t in tokens.items() if "a" in t}

vocab = f"{work}/ja_ginza/vocab"
key2row = msgpack.unpackb(open(f"{vocab}/key2row", "rb").read(), strict_map_key=False)
vectors = np.load(f"{vocab}/vectors")
vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
buckets = msgpack.unpackb(gzip.open(f"{work}/large_ja.msgpack.gz").read(), raw=False)[1:]
zipf = {w: (900 - i) / 100 for i, b in enumerate(buckets) for w in b}

n_docs = len(docs)
df = {}
for d in docs.values():
    for t in {t[0] for ph in d["q"] + d["a"] for t in ph}:
        df[t] = df.get(t, 0) + 1


def idf(t):
    return math.log(1 + (n_docs - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5))


_vec = {}


def vec(t):
    if t not in _vec:
        row = key2row.get(murmur64(t.encode()))
        _vec[t] = None if row is None else vectors[row]
    return _vec[t]


def mean_vec(terms):
    acc, n = np.zeros(vectors.shape[1]), 0.0
    for t in terms:
        v = vec(t)
        if v is not None:
            acc += idf(t) * v
            n += idf(t)
    norm = np.linalg.norm(acc)
    return acc / norm if norm > 0 else None


def entry_terms(i):
    return {t[0] for ph in docs[i]["q"] + docs[i]["a"] for t in ph}


def soft_coverage(q, i):
    """IDF-weighted share of the question's terms, each counted by its best cosine in entry i."""
    terms = entry_terms(i)
    ev = [v for v in (vec(t) for t in terms) if v is not None]
    ev = np.array(ev) if ev else None
    num = den = 0.0
    for t in q:
        w = idf(t)
        den += w
        if t in terms:
            num += w
        elif vec(t) is not None and ev is not None:
            num += w * max(0.0, float((ev @ vec(t)).max()))
    return num / den if den else 0.0


def phrasing_similarity(q, i):
    qv = mean_vec(q)
    sims = [float(qv @ pv) for ph in docs[i]["q"] for pv in [mean_vec([t[0] for t in ph])]
            if qv is not None and pv is not None]
    return max(sims) if sims else 0.0


def missing_specificity(q_tokens, i):
    """Share of the question's general-language specificity (7 - Zipf) in words entry i lacks."""
    terms = entry_terms(i)
    spec = lambda t, s: 7.0 - zipf.get(s, zipf.get(t, 1.5))  # noqa: E731
    total = sum(spec(t, s) * idf(t) for t, s, _ in q_tokens)
    miss = sum(spec(t, s) * idf(t) for t, s, _ in q_tokens if t not in terms)
    return miss / total if total else 0.0


# --- fallback: the best recall at precision >= 0.85 -----------------------------------------
y = np.array([0 if r["relevant"] else 1 for r in rows])
in_scope = y == 0
base = np.array([[r["signals"][k] for k in ("coverage", "evidence", "margin", "unknown")]
                 for r in rows])
extra = []
for r in rows:
    q_tokens = tokens[r["qid"]]["query"][0]
    q = [t[0] for t in q_tokens]
    if not r["ranked"] or not q:
        extra.append([0.0, 0.0, 0.0])
        continue
    top = r["ranked"][0][0]
    extra.append([soft_coverage(q, top), phrasing_similarity(q, top),
                  missing_specificity(q_tokens, top)])
extra = np.array(extra)


def best_recall(p):
    best = (0.0, 0.0)
    for t in sorted(set(p)):
        fb = p >= t
        tp = (fb & ~in_scope).sum()
        precision, recall = tp / max(fb.sum(), 1), tp / (~in_scope).sum()
        if precision >= 0.85 and recall > best[1]:
            best = (precision, recall)
    return best


print("Fallback recall at precision >= 0.85 (logistic regression over the signals)")
print("| signals | in-sample P / R | 5-fold CV P / R |\n|---|---|---|")
for name, X in [
    ("coverage, evidence, unknown (shipped signals)", base[:, [0, 1, 3]]),
    ("+ margin", base),
    ("+ word vectors (soft coverage, phrasing similarity)", np.hstack([base, extra[:, :2]])),
    ("+ general-language specificity of missing words", np.hstack([base, extra[:, 2:]])),
    ("+ both", np.hstack([base, extra])),
]:
    model = LogisticRegression(C=10, max_iter=5000)
    fitted = model.fit(X, y).predict_proba(X)[:, 1]
    cv = cross_val_predict(LogisticRegression(C=10, max_iter=5000), X, y, cv=5,
                           method="predict_proba")[:, 1]
    (p1, r1), (p2, r2) = best_recall(fitted), best_recall(cv)
    print(f"| {name} | {p1:.3f} / {r1:.3f} | {p2:.3f} / {r2:.3f} |")

# --- ranking: Success@1 after re-ranking the top 10 ------------------------------------------
answerable = [r for r in rows if r["relevant"] and r["ranked"]]


def success_at_1(score):
    hits = 0
    for r in answerable:
        top = r["ranked"][:10]
        first = max(top, key=lambda h: score(r, h, top[0][1]))
        hits += first[0] in r["relevant"]
    return hits / len(answerable)


print(f"\nSuccess@1 over {len(answerable)} answerable queries; madoguchi as shipped: "
      f"{success_at_1(lambda r, h, s0: h[1] / s0):.3f}")
cache = {}


def vector_features(r, i):
    if (r["qid"], i) not in cache:
        q = [t[0] for t in tokens[r["qid"]]["query"][0]]
        cache[(r["qid"], i)] = (phrasing_similarity(q, i), soft_coverage(q, i))
    return cache[(r["qid"], i)]


best = max(
    (success_at_1(lambda r, h, s0, a=a, b=b: h[1] / s0 + a * vector_features(r, h[0])[0]
                  + b * vector_features(r, h[0])[1]), a, b)
    for a in (0.1, 0.2, 0.3, 0.5, 0.8) for b in (0.0, 0.2, 0.5))
print(f"+ word vectors (score/top + a·phrasing similarity + b·soft coverage), best of 15: "
      f"{best[0]:.3f} (a {best[1]}, b {best[2]})")

texts, labels = [], []
for i, e in entries.items():
    for p in [e["question"]] + e.get("alt_questions", []):
        texts.append(unicodedata.normalize("NFKC", p))
        labels.append(i)
vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
classifier = LinearSVC(C=1.0).fit(vectorizer.fit_transform(texts), labels)
column = {c: k for k, c in enumerate(classifier.classes_)}
margins = classifier.decision_function(
    vectorizer.transform([unicodedata.normalize("NFKC", r["text"]) for r in answerable]))
by_qid = {r["qid"]: m for r, m in zip(answerable, margins)}
alone = sum(classifier.classes_[int(np.argmax(m))] in r["relevant"]
            for r, m in zip(answerable, margins)) / len(answerable)
best = max(
    (success_at_1(lambda r, h, s0, lam=lam: h[1] / s0 + lam * by_qid[r["qid"]][column[h[0]]]
                  if h[0] in column else h[1] / s0), lam)
    for lam in (0.1, 0.2, 0.3, 0.5, 1.0))
print(f"classifier trained on the FAQ's phrasings (character 1-3-grams, LinearSVC): alone "
      f"{alone:.3f}; fused into the top 10, best of 5 weights: {best[0]:.3f} (weight {best[1]})")
