"""Linear probe: logistic regression on standardised frozen embeddings."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sslcore.evaluation.splits import selection_split

DEFAULT_CS = (0.01, 0.1, 1.0, 10.0)


@dataclass
class ProbeResult:
    """Accuracy of a protocol; ``selected`` holds the chosen hyper-parameters."""

    protocol: str
    test_accuracy: float
    selection_accuracy: float | None = None
    selected: dict[str, float] = field(default_factory=dict)
    test_std: float | None = None
    num_train: int = 0
    num_test: int = 0


def _model(C: float, max_iter: int, seed: int) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))


def linear_probe(
    X: np.ndarray,
    y: np.ndarray,
    splits: dict[str, np.ndarray] | None,
    Cs: tuple[float, ...] = DEFAULT_CS,
    max_iter: int = 1000,
    folds: int = 10,
    seed: int = 0,
    max_selection_rows: int = 10_000,
) -> ProbeResult:
    r"""Standardise features (fit on the training rows), fit
    :math:`\min_W \sum_i \mathrm{CE}(W x_i, y_i) + \tfrac{1}{2C}\lVert W\rVert^2`, choose
    :math:`C` on the validation rows (or a held-out 10 % of train), refit on train and
    report test accuracy. On large data, :math:`C` is chosen with at most
    ``max_selection_rows`` random fitting rows (the final fit uses all training rows).

    With ``splits=None``: stratified ``folds``-fold cross-validation, :math:`C` chosen
    by an inner 5-fold search on each outer training part (SentEval's protocol).

    Args:
        X: ``[num_rows, d]`` embeddings.
        y: ``[num_rows]`` integer labels.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if splits is None:
            search = GridSearchCV(
                _model(1.0, max_iter, seed), {"logisticregression__C": list(Cs)}, cv=5, n_jobs=1
            )
            outer = StratifiedKFold(folds, shuffle=True, random_state=seed)
            scores = cross_val_score(search, X, y, cv=outer)
            return ProbeResult(
                "linear",
                float(scores.mean()),
                test_std=float(scores.std()),
                num_train=len(y),
                num_test=len(y),
            )
        fit, select, test = selection_split(y, splits, seed)
        if len(fit) > max_selection_rows:
            fit = np.random.default_rng(seed).choice(fit, max_selection_rows, replace=False)
        best_C, best_acc = Cs[0], -1.0
        for C in Cs:
            acc = _model(C, max_iter, seed).fit(X[fit], y[fit]).score(X[select], y[select])
            if acc > best_acc:
                best_C, best_acc = C, acc
        train = np.asarray(splits["train"])
        model = _model(best_C, max_iter, seed).fit(X[train], y[train])
        return ProbeResult(
            "linear",
            float(model.score(X[test], y[test])),
            selection_accuracy=float(best_acc),
            selected={"C": best_C},
            num_train=len(train),
            num_test=len(test),
        )
