"""Linear probe: logistic regression on standardised frozen embeddings.

Two solvers fit the same model (see :mod:`sslcore.evaluation.torch_linear`): scikit-learn's
``LogisticRegression`` (lbfgs) on the CPU, and a full-batch torch L-BFGS on any device,
chosen by ``linear_probe(..., device=, solver=)``. They share the protocol code (splits,
the :math:`C` grid, selection and refit) and the objective; they stop at the same gradient
tolerance along different L-BFGS paths, so accuracies agree to a few test rows, not
bit for bit (``tests/test_evaluation.py`` asserts 0.3 points and the same :math:`C` on
Fashion-MNIST and Cora). A :math:`C` chosen on a small validation set can flip between
two values whose validation accuracies differ by one row; the tests' data have a margin.

CPU time, ``benchmarks/linear_probe_solvers.py`` (full Fashion-MNIST, 60k train rows of
512 random ReLU features, 10 classes, 4 values of :math:`C`, 2 threads, medians of 3 on a
shared 2-core machine): scikit-learn 231.6 s, torch 33.9 s; both chose C = 0.01, test
accuracy 85.70 % and 85.71 % (``benchmarks/results/linear_probe_solvers.json``). GPU time
is not measured yet.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np
import torch
from annotated_types import Ge, Gt
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sslcore.evaluation.splits import selection_split
from sslcore.evaluation.torch_linear import fit_logistic

DEFAULT_CS = (0.01, 0.1, 1.0, 10.0)
SOLVERS = ("auto", "sklearn", "torch")

Array = np.ndarray | torch.Tensor
#: ``fit_score(C, fit_rows, score_rows)``: accuracy on ``score_rows`` of a probe fitted on ``fit_rows``
FitScore = Callable[[float, np.ndarray, np.ndarray], float]


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

    @classmethod
    def from_folds(cls, protocol: str, scores: Sequence[float], rows: int, **selected: float) -> ProbeResult:
        """Cross-validation: the mean and standard deviation of the folds' test accuracies;
        each of the ``rows`` is trained and tested on."""
        mean, std = float(np.mean(scores)), float(np.std(scores))
        return cls(protocol, mean, selected=selected, test_std=std, num_train=rows, num_test=rows)


def _model(C: float, max_iter: int, seed: int) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))


def linear_probe(
    X: Array,
    y: Array,
    splits: dict[str, np.ndarray] | None,
    Cs: tuple[Annotated[float, Gt(0)], ...] = DEFAULT_CS,
    max_iter: Annotated[int, Ge(1)] = 1000,
    folds: Annotated[int, Ge(2)] = 10,
    seed: int = 0,
    max_selection_rows: Annotated[int, Ge(1)] = 10_000,
    device: torch.device | str | None = None,
    solver: str = "auto",
) -> ProbeResult:
    r"""Standardise features (fit on the training rows), fit
    :math:`\min_{W,b} \tfrac12\lVert W\rVert^2 + C \sum_i \mathrm{CE}(W x_i + b, y_i)`, choose
    :math:`C` on the validation rows (or a held-out 10 % of train), refit on train and
    report test accuracy. On large data, :math:`C` is chosen with at most
    ``max_selection_rows`` random fitting rows (the final fit uses all training rows).

    With ``splits=None``: stratified ``folds``-fold cross-validation, :math:`C` chosen
    by an inner 5-fold search on each outer training part (SentEval's protocol).

    Args:
        X: ``[num_rows, d]`` embeddings (numpy or torch).
        y: ``[num_rows]`` integer labels (numpy or torch).
        device: where to fit; ``None`` means where ``X`` is (the CPU for numpy).
        solver: ``"sklearn"`` (CPU only), ``"torch"``
            (:func:`~sslcore.evaluation.torch_linear.fit_logistic`, float32 on ``device``), or
            ``"auto"``: torch on an accelerator (CUDA, MPS, ...), scikit-learn on the CPU, so
            CPU figures are scikit-learn's. Both solvers serve both protocols.
    """
    where = probe_device(X, device)
    use_torch = _uses_torch(solver, where)
    check_probe_inputs(X, y, splits)
    y_np = as_numpy(y)
    if use_torch:
        fit_score = _torch_fit_score(X, y, max_iter, where)
        return _protocol(fit_score, y_np, splits, Cs, seed, max_selection_rows, folds)
    X_np = as_numpy(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if splits is None:
            return _sklearn_nested_cv(X_np, y_np, Cs, max_iter, folds, seed)
        fit_score = _sklearn_fit_score(X_np, y_np, max_iter, seed)
        return _protocol(fit_score, y_np, splits, Cs, seed, max_selection_rows, folds)


def probe_device(X: Array, device: torch.device | str | None) -> torch.device:
    """Where a probe fits: ``device``, or where ``X`` is when it is ``None`` (the CPU for numpy)."""
    if device is not None:
        return torch.device(device)
    return X.device if isinstance(X, torch.Tensor) else torch.device("cpu")


def _uses_torch(solver: str, device: torch.device) -> bool:
    if solver not in SOLVERS:
        raise ValueError(f"unknown linear probe solver {solver!r}; valid choices: {', '.join(SOLVERS)}")
    if solver == "sklearn" and device.type != "cpu":
        raise ValueError(f"solver='sklearn' runs on the CPU only, not on device {str(device)!r}")
    return solver == "torch" or (solver == "auto" and device.type != "cpu")


def check_probe_inputs(
    X: Array, y: Array, splits: dict[str, np.ndarray] | None, probe: str = "linear_probe"
) -> None:
    """Clear errors for shapes, empty splits and non-finite features (before any fitting),
    naming the ``probe`` that got them."""
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(
            f"{probe} needs X [n, d] and y [n]; got shapes {tuple(X.shape)} and {tuple(y.shape)}"
        )
    for name, rows in (splits or {}).items():
        if len(rows) == 0:
            raise ValueError(f"{probe}: evaluation split {name!r} is empty")
    finite = torch.isfinite(X).all(1) if isinstance(X, torch.Tensor) else np.isfinite(X).all(1)
    bad = np.flatnonzero(~as_numpy(finite))
    if len(bad):
        raise ValueError(
            f"{probe}: X holds NaN or infinite values in {len(bad)} of {len(X)} rows (first: row {bad[0]})"
        )


def as_numpy(a: Array) -> np.ndarray:
    """``a`` as a numpy array (a torch tensor is copied to the CPU)."""
    return a.numpy(force=True) if isinstance(a, torch.Tensor) else np.asarray(a)


def _sklearn_fit_score(X: np.ndarray, y: np.ndarray, max_iter: int, seed: int) -> FitScore:
    def fit_score(C: float, fit: np.ndarray, score: np.ndarray) -> float:
        return float(_model(C, max_iter, seed).fit(X[fit], y[fit]).score(X[score], y[score]))

    return fit_score


def _torch_fit_score(X: Array, y: Array, max_iter: int, device: torch.device) -> FitScore:
    X_t = torch.as_tensor(X, dtype=torch.float32, device=device)
    y_t = torch.as_tensor(y, device=device)

    def fit_score(C: float, fit: np.ndarray, score: np.ndarray) -> float:
        fit_t, score_t = (torch.as_tensor(rows, device=device) for rows in (fit, score))
        return fit_logistic(X_t[fit_t], y_t[fit_t], C, max_iter).score(X_t[score_t], y_t[score_t])

    return fit_score


def _protocol(
    fit_score: FitScore,
    y: np.ndarray,
    splits: dict[str, np.ndarray] | None,
    Cs: tuple[float, ...],
    seed: int,
    max_selection_rows: int,
    folds: int,
) -> ProbeResult:
    """The protocol of :func:`linear_probe` around any solver's ``fit_score``."""
    if splits is None:
        return _nested_cv(fit_score, y, Cs, folds, seed)
    fit, select, test = selection_split(y, splits, seed)
    if len(fit) > max_selection_rows:
        fit = np.random.default_rng(seed).choice(fit, max_selection_rows, replace=False)
    best_C, best_acc = _best_C(Cs, [fit_score(C, fit, select) for C in Cs])
    train = np.asarray(splits["train"])
    accuracy = fit_score(best_C, train, test)
    return ProbeResult("linear", accuracy, best_acc, {"C": best_C}, num_train=len(train), num_test=len(test))


def _best_C(Cs: tuple[float, ...], scores: list[float]) -> tuple[float, float]:
    """The first ``C`` with the highest score, and that score."""
    best = int(np.argmax(scores))
    return Cs[best], float(scores[best])


def _sklearn_nested_cv(
    X: np.ndarray, y: np.ndarray, Cs: tuple[float, ...], max_iter: int, folds: int, seed: int
) -> ProbeResult:
    search = GridSearchCV(_model(1.0, max_iter, seed), {"logisticregression__C": list(Cs)}, cv=5, n_jobs=1)
    outer = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return ProbeResult.from_folds("linear", cross_val_score(search, X, y, cv=outer), len(y))


def _nested_cv(
    fit_score: FitScore, y: np.ndarray, Cs: tuple[float, ...], folds: int, seed: int
) -> ProbeResult:
    """:func:`_sklearn_nested_cv` for any solver: the same outer folds, and on each outer
    training part the ``C`` of best mean accuracy over the inner 5 folds (``GridSearchCV(cv=5)``:
    unshuffled stratified folds, the first ``C`` on ties), refit on that part."""
    outer = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = []
    for train, test in outer.split(y, y):
        inner = list(StratifiedKFold(5).split(train, y[train]))
        means = [np.mean([fit_score(C, train[a], train[b]) for a, b in inner]) for C in Cs]
        scores.append(fit_score(_best_C(Cs, means)[0], train, test))
    return ProbeResult.from_folds("linear", scores, len(y))
