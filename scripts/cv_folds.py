"""5-fold cross-validation of a choice among settings, for the experiment scripts that re-rank
`madoguchi eval --hits` (scripts/experiment_rescoring.py, scripts/experiment_second_model.py).

A question is a dict with at least "set" (its dev set's name) and "qid". Each set's questions in
id order are dealt into folds (query i to fold i mod 5); a fold is scored with the setting that
maximised the sum of the sets' Success@1 on the other four (ties: the earlier setting).
"""

import numpy as np

FOLDS = 5


def folds_and_sets(questions):
    """Each question's fold (its set's questions in id order dealt into folds: query i to fold
    i mod 5) and its set's name, as arrays."""
    fold = {}
    for name in {q["set"] for q in questions}:
        for i, q in enumerate(sorted((q for q in questions if q["set"] == name), key=lambda q: q["qid"])):
            fold[id(q)] = i % FOLDS
    return np.array([fold[id(q)] for q in questions]), np.array([q["set"] for q in questions])


def per_set(right, names, mask=None):
    """Success@1 of each set over the questions in `mask` (all when None)."""
    mask = np.ones(len(right), bool) if mask is None else mask
    return {n: right[mask & (names == n)].mean() for n in sorted(set(names))}


def objective(right, names, mask=None):
    """The sum of the sets' Success@1: what a choice maximises."""
    return sum(per_set(right, names, mask).values())


def cross_validate(questions, candidates, judge):
    """Chooses among `candidates` (settings; judge(setting, questions) tells, per question,
    whether its first hit is relevant) per fold on the other folds, and on all questions."""
    folds, names = folds_and_sets(questions)
    right = {p: np.array(judge(p, questions)) for p in candidates}
    held = np.zeros(len(questions), bool)
    chosen = []
    for k in range(FOLDS):
        best = max(candidates, key=lambda p: objective(right[p], names, folds != k))
        chosen.append(best)
        held[folds == k] = right[best][folds == k]
    in_sample = max(candidates, key=lambda p: objective(right[p], names))
    return per_set(held, names), per_set(right[in_sample], names), chosen, in_sample
