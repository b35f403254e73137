"""Measures re-scoring: other combinations of the lexical and semantic legs than the shipped
`score + semantic_weight x meaning` (issue #17, item 3: rank fusion, score fusion and re-scoring).

Run by scripts/experiment-rescoring.sh, which writes the inputs with `madoguchi eval --hits`.
For the Japanese questions with a relevant entry, it re-orders each question's hits (the shipped
ranking's pool: the lexical top 100 and the 100 entries nearest in meaning) by

  sum        score + W x (share x best phrasing cosine + (1 - share) x question+answer cosine),
             W and share chosen again (the shipped form, as scripts/cv-semantic.sh chooses it)
  sum+       the same plus a x coverage + b x evidence + c x score / the question's best score
  learned    a linear function of nine signals fitted by a listwise softmax loss with an L2
             penalty (scipy L-BFGS-B), the penalty chosen with the weights

and reports Success@1 per set, 5-fold cross-validated (each set's questions in id order dealt
into folds, query i to fold i mod 5; a fold is scored with what maximised the sum of the sets'
Success@1 on the other four), then in sample. Nothing here is part of madoguchi.

Arguments: one or more NAME=PATH pairs, PATH a file written by `madoguchi eval --hits`.
"""

import itertools
import json
import sys

import numpy as np
from scipy.optimize import minimize

from cv_folds import FOLDS, cross_validate, folds_and_sets, objective, per_set


def load(name, path):
    questions = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            hits = d["hits"]
            relevant = {k for k, g in d["relevant"].items() if g > 0}
            if not hits or not relevant or hits[0]["foreign"]:
                continue
            if any("cosines" not in h for h in hits):
                sys.exit(f"{path}: hits without cosines (was the semantic leg on?)")
            c = [h["cosines"] for h in hits]
            question = np.array([x["question"] for x in c])
            phrasing = np.array([x["phrasing"] if x.get("phrasing") is not None else np.nan for x in c])
            has_phrasing = ~np.isnan(phrasing)
            best = np.where(has_phrasing, np.fmax(question, phrasing), question)
            score = np.array([h["score"] for h in hits])
            questions.append({
                "set": name,
                "qid": d["qid"],
                "relevant": np.array([h["id"] in relevant for h in hits]),
                "ranking": np.array([h["ranking"] for h in hits]),
                "score": score,
                "score_rel": score / max(score.max(), 1e-6),
                "coverage": np.array([h["coverage"] for h in hits]),
                "evidence": np.array([h["evidence"] for h in hits]),
                "question": question,
                "best": best,
                "answer": np.array([x["answer"] for x in c]),
                "phrasings": has_phrasing.astype(float),
            })
    return questions


def first_right(q, order_by):
    # The first hit by the new order; ties keep the shipped order (the hits come in it).
    return bool(q["relevant"][int(np.argmax(order_by))])


def summed(q, p):
    w, share, question_share, a, b, c = p
    s = np.where(q["phrasings"] > 0, share, question_share)
    meaning = s * q["best"] + (1 - s) * q["answer"]
    return q["score"] + w * meaning + a * q["coverage"] + b * q["evidence"] + c * q["score_rel"]


FEATURES = ("score", "score_rel", "coverage", "evidence", "question", "best", "answer")


def features(q):
    x = [q[k] for k in FEATURES]
    x[0] = x[0] / 100.0
    x += [q["phrasings"] * q["best"], q["phrasings"] * q["answer"]]
    # Cosines differ in the second decimal: scaled so that one penalty suits every column.
    return np.stack(x, 1) * np.array([1, 1, 1, 1, 10, 10, 10, 10, 10])


def fit(questions, l2):
    # A question whose relevant entry is not among its hits teaches nothing (it stays a miss).
    found = [q for q in questions if q["relevant"].any()]
    xs = [features(q) for q in found]
    ys = [q["relevant"] for q in found]

    def loss(w):
        total, grad = 0.0, np.zeros_like(w)
        for x, y in zip(xs, ys):
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            right = p[y].sum()
            total -= np.log(right + 1e-12)
            grad += p @ x - (p[y] / right) @ x[y]
        n = len(xs)
        return total / n + l2 * w @ w, grad / n + 2 * l2 * w

    return minimize(loss, np.zeros(xs[0].shape[1]), jac=True, method="L-BFGS-B").x


def best_penalty(questions, penalties):
    """The penalty (and its weights) whose fit on `questions` ranks them best there."""
    names = np.array([q["set"] for q in questions])
    best = None
    for pen in penalties:
        w = fit(questions, pen)
        right = np.array([first_right(q, features(q) @ w) for q in questions])
        if best is None or objective(right, names) > best[0]:
            best = (objective(right, names), pen, w, per_set(right, names))
    return best[1:]


def show(label, cv, ins, note=""):
    fmt = lambda d: ", ".join(f"{n} {v:.3f}" for n, v in d.items())
    print(f"{label}: cross-validated {fmt(cv)}; in sample {fmt(ins)}{note}")


def main():
    questions = []
    for arg in sys.argv[1:]:
        name, path = arg.split("=", 1)
        questions += load(name, path)
    sets = sorted({q["set"] for q in questions})
    print("Japanese questions with a relevant entry: " + ", ".join(
        f"{n} {sum(q['set'] == n for q in questions)}" for n in sets))
    shipped = per_set(np.array([first_right(q, q["ranking"]) for q in questions]), folds_and_sets(questions)[1])
    print("shipped ranking, as the run ordered it: " + ", ".join(f"{n} {v:.3f}" for n, v in shipped.items())
          + " (in sample: its settings were chosen on these sets; scripts/cv-semantic.sh cross-validates them)")

    judge = lambda p, qs: [first_right(q, summed(q, p)) for q in qs]
    grid = list(itertools.product([320, 400, 480, 560, 640, 800], [0.5, 0.6, 0.7, 0.8], [0.2, 0.3, 0.4], [0], [0], [0]))
    cv, ins, chosen, best = cross_validate(questions, grid, judge)
    show("sum (W, shares chosen again)", cv, ins, f"; chosen in sample {best[:3]}")

    grid_plus = list(itertools.product([320, 480, 640, 800], [0.6, 0.8], [0.3], [0, 5, 10, 20, 40], [0, 5, 10], [0, 10, 20, 40]))
    cv, ins, chosen, best = cross_validate(questions, grid_plus, judge)
    show("sum + coverage, evidence, relative score", cv, ins, f"; chosen in sample {best}, per fold {chosen}")

    # Learned: each penalty's weights fitted on the four other folds, the penalty chosen there.
    penalties = [0.0, 1e-4, 1e-3, 1e-2]
    folds, names = folds_and_sets(questions)
    held = np.zeros(len(questions), bool)
    picked = []
    for k in range(FOLDS):
        pen, w, _ = best_penalty([q for q, f in zip(questions, folds) if f != k], penalties)
        picked.append(pen)
        for i in np.flatnonzero(folds == k):
            held[i] = first_right(questions[i], features(questions[i]) @ w)
    pen, _, ins = best_penalty(questions, penalties)
    show("learned linear re-scoring", per_set(held, names), ins, f"; penalty per fold {picked}, in sample {pen}")

if __name__ == "__main__":
    main()
