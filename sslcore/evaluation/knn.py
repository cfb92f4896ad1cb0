"""k-nearest-neighbour classifier on frozen embeddings (cosine distance)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from annotated_types import Ge
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from sslcore.evaluation.linear import ProbeResult
from sslcore.evaluation.splits import selection_split

DEFAULT_KS = (5, 10, 20, 50)


def knn_probe(
    X: np.ndarray,
    y: np.ndarray,
    splits: dict[str, np.ndarray] | None,
    ks: tuple[Annotated[int, Ge(1)], ...] = DEFAULT_KS,
    folds: Annotated[int, Ge(2)] = 10,
    seed: int = 0,
) -> ProbeResult:
    r"""Distance-weighted kNN with cosine distance :math:`1 - \frac{x^\top x'}{\lVert x\rVert\lVert x'\rVert}`;
    :math:`k` chosen on the validation rows (or a held-out 10 % of train), then the
    classifier over all training rows is scored on test. ``splits=None``: k-fold CV
    with the median of ``ks``.

    Args:
        X: ``[num_rows, d]`` embeddings.
        y: ``[num_rows]`` integer labels.
    """

    def model(k: int) -> KNeighborsClassifier:
        return KNeighborsClassifier(n_neighbors=k, metric="cosine", weights="distance", algorithm="brute")

    if splits is None:
        k = int(np.median(ks))
        scores = cross_val_score(model(k), X, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
        return ProbeResult.from_folds("knn", scores, len(y), k=k)
    fit, select, test = selection_split(y, splits, seed)
    usable = [k for k in ks if k <= len(fit)] or [max(1, len(fit))]
    scores = {k: model(k).fit(X[fit], y[fit]).score(X[select], y[select]) for k in usable}
    best = max(scores, key=lambda k: scores[k])
    train = np.asarray(splits["train"])
    acc = float(model(min(best, len(train))).fit(X[train], y[train]).score(X[test], y[test]))
    return ProbeResult("knn", acc, float(scores[best]), {"k": best}, num_train=len(train), num_test=len(test))
