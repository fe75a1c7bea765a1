"""The reference a learned scorer is measured against: plain logistic regression on TF-IDF word n-grams
(scikit-learn, a development dependency: this never runs in a Lambda).

``fit(texts, targets)`` learns from prompts and soft targets in [0, 1] (the share of verdicts that favour the
strong model); ``Reference.score(texts)`` gives the probability that the strong model is needed. The recipe is
the textbook one: ``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)`` on the instruction text, then
``LogisticRegression`` with its inverse regularisation ``C`` chosen by 4-fold cross-validated log loss over
``C_GRID``. A soft target t is two weighted rows (label 1 with weight t, label 0 with weight 1 - t), which is
exactly the soft-label cross-entropy the project's own trainer minimises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
FOLDS = 4


@dataclass
class Reference:
    vectorizer: Any
    model: Any
    c: float

    def score(self, texts: Sequence[str]) -> list[float]:
        return [float(p) for p in self.model.predict_proba(self.vectorizer.transform(list(texts)))[:, 1]]


def _fit_lr(x: Any, t: Any, c: float) -> Any:
    import numpy as np
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    n = x.shape[0]
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(sparse.vstack([x, x]), np.r_[np.ones(n), np.zeros(n)], sample_weight=np.r_[t, 1.0 - t])
    return model


def fit(texts: Sequence[str], targets: Sequence[float], *, seed: int = 0) -> Reference:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    t = np.asarray(targets, dtype=float)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x = vectorizer.fit_transform(list(texts))
    idx = np.arange(len(t))
    np.random.RandomState(seed).shuffle(idx)
    folds = np.array_split(idx, FOLDS)
    best: tuple[float, float] | None = None
    for c in C_GRID:
        loss = 0.0
        for f in folds:
            train = np.setdiff1d(idx, f)
            if len(set(t[train])) < 2:
                continue
            p = np.clip(_fit_lr(x[train], t[train], c).predict_proba(x[f])[:, 1], 1e-6, 1 - 1e-6)
            loss -= float((t[f] * np.log(p) + (1 - t[f]) * np.log(1 - p)).sum())
        if best is None or loss < best[0]:
            best = (loss, c)
    c = best[1] if best is not None else 1.0
    return Reference(vectorizer, _fit_lr(x, t, c), c)
