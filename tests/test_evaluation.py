"""Evaluation protocols on synthetic embeddings, and embedding extraction through ``embed``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

import sslcore.evaluation.knn as knn_module
import sslcore.evaluation.linear as linear_module
from sslcore.data import EvalSet
from sslcore.errors import UnknownNameError
from sslcore.evaluation import extract_embeddings, get_protocol, knn_probe, linear_probe
from sslcore.evaluation.splits import selection_split
from tests.toy_tasks import AutoEncoder, VectorEncoder


@pytest.fixture(autouse=True)
def single_threaded_blas():
    """The probes fit many tiny models: BLAS threads only add contention (15x slower on a
    busy 2-core machine)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def blobs(n_per_class: int, classes: int = 3, dim: int = 6, spread: float = 0.3, seed: int = 0):
    """Well separated Gaussian clusters: centres on the axes, scaled by 5."""
    rng = np.random.default_rng(seed)
    centres = 5.0 * np.eye(classes, dim)
    X = np.concatenate([c + spread * rng.standard_normal((n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(classes), n_per_class)
    order = rng.permutation(len(y))
    return X[order].astype(np.float32), y[order]


def standard_splits(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return {"train": order[: n // 2], "val": order[n // 2 : 3 * n // 4], "test": order[3 * n // 4 :]}


def random_label_data(n: int = 400, classes: int = 4, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 8)).astype(np.float32), rng.integers(0, classes, n)


# -- linear probe ------------------------------------------------------------------------------
def test_linear_probe_separates_separable_data() -> None:
    X, y = blobs(60)
    splits = standard_splits(len(y))
    result = linear_probe(X, y, splits)
    assert result.protocol == "linear" and result.test_accuracy >= 0.95
    assert result.selection_accuracy >= 0.95 and result.selected["C"] in linear_module.DEFAULT_CS
    assert (result.num_train, result.num_test) == (len(splits["train"]), len(splits["test"]))


def test_linear_probe_is_at_chance_on_random_labels() -> None:
    X, y = random_label_data()
    result = linear_probe(X, y, standard_splits(len(y)))
    assert abs(result.test_accuracy - 0.25) < 0.12


def test_linear_probe_chooses_C_on_val_and_never_on_test() -> None:
    """Train: class 0 for 80 % and the label follows feature 0. Val: every label is 0, so
    a tiny C (weights ~0, intercept -> always 0) is perfect on val. Test: balanced, follows
    feature 0, so only a large C does well there. Choosing on val must pick the tiny C."""
    rng = np.random.default_rng(0)

    def rows(n: int, labels_from_feature: bool, p1: float):
        y = (rng.random(n) < p1).astype(int)
        X = rng.standard_normal((n, 4))
        X[:, 0] = np.where(y == 1, 3.0, -3.0) + 0.3 * rng.standard_normal(n)
        return X, (y if labels_from_feature else np.zeros(n, dtype=int))

    parts = [rows(200, True, 0.2), rows(100, False, 0.5), rows(100, True, 0.5)]
    X = np.concatenate([p[0] for p in parts]).astype(np.float32)
    y = np.concatenate([p[1] for p in parts])
    splits = {"train": np.arange(200), "val": np.arange(200, 300), "test": np.arange(300, 400)}
    result = linear_probe(X, y, splits, Cs=(100.0, 1e-6))
    assert result.selected["C"] == 1e-6
    assert result.selection_accuracy == 1.0
    assert result.test_accuracy < 0.7  # it paid for the choice on test: no peeking
    # the large C is the better one on test, so picking on test would have been detected
    assert (
        linear_probe(
            X, y, {"train": splits["train"], "val": splits["test"], "test": splits["test"]}, Cs=(100.0, 1e-6)
        ).selected["C"]
        == 100.0
    )


def test_linear_probe_without_val_selects_on_a_part_of_train() -> None:
    """Test labels are the opposite of the train rule: selecting on test would pick the
    tiny C (majority class), selecting on held-out train rows picks the large one."""
    rng = np.random.default_rng(1)
    n = 400
    y = (rng.random(n) < 0.3).astype(int)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    X[:, 0] = np.where(y == 1, 3.0, -3.0)
    y[300:] = 1 - y[300:]
    splits = {"train": np.arange(300), "test": np.arange(300, 400)}
    result = linear_probe(X, y, splits, Cs=(1e-6, 100.0))
    assert result.selected["C"] == 100.0 and result.selection_accuracy > 0.95
    assert result.test_accuracy < 0.1


class Recorder:
    """Maps arrays of rows back to their indices in ``X`` (rows are unique)."""

    def __init__(self, X: np.ndarray):
        self.index = {row.tobytes(): i for i, row in enumerate(X)}
        assert len(self.index) == len(X)
        self.calls: list[tuple[str, frozenset[int]]] = []

    def record(self, what: str, X: np.ndarray) -> None:
        self.calls.append((what, frozenset(self.index[row.tobytes()] for row in np.asarray(X))))


def test_linear_probe_fits_on_train_selects_on_val_scores_test_once(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = blobs(40)
    splits = standard_splits(len(y))
    rec = Recorder(X)
    real_model = linear_module._model

    def spy_model(C, max_iter, seed):
        model = real_model(C, max_iter, seed)
        fit, score = model.fit, model.score
        model.fit = lambda X_, y_: (rec.record("fit", X_), fit(X_, y_))[1]
        model.score = lambda X_, y_: (rec.record("score", X_), score(X_, y_))[1]
        return model

    monkeypatch.setattr(linear_module, "_model", spy_model)
    Cs = (0.1, 1.0, 10.0)
    linear_probe(X, y, splits, Cs=Cs)
    train, val, test = (frozenset(splits[k].tolist()) for k in ("train", "val", "test"))
    assert rec.calls == [("fit", train), ("score", val)] * len(Cs) + [("fit", train), ("score", test)]


def test_linear_probe_selects_C_on_a_subsample_of_large_training_sets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, y = blobs(40)
    splits = standard_splits(len(y))
    rec = Recorder(X)
    real_model = linear_module._model

    def spy_model(C, max_iter, seed):
        model = real_model(C, max_iter, seed)
        fit = model.fit
        model.fit = lambda X_, y_: (rec.record("fit", X_), fit(X_, y_))[1]
        return model

    monkeypatch.setattr(linear_module, "_model", spy_model)
    linear_probe(X, y, splits, Cs=(0.1, 1.0), max_selection_rows=15)
    train = frozenset(splits["train"].tolist())
    selection_fits, final_fit = [rows for _, rows in rec.calls[:-1]], rec.calls[-1][1]
    assert all(len(rows) == 15 and rows < train for rows in selection_fits)
    assert final_fit == train


def test_linear_probe_cross_validates_without_splits(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = blobs(30)
    seen = []
    real = linear_module.cross_val_score

    def spy(estimator, X_, y_, cv):
        seen.append((estimator, cv, len(y_)))
        return real(estimator, X_, y_, cv=cv)

    monkeypatch.setattr(linear_module, "cross_val_score", spy)
    result = linear_probe(X, y, None, Cs=(0.1, 1.0), folds=4)
    ((estimator, cv, n),) = seen
    assert isinstance(cv, StratifiedKFold) and cv.get_n_splits() == 4 and n == len(y)
    assert type(estimator).__name__ == "GridSearchCV"  # C chosen inside each outer training part
    assert result.test_accuracy >= 0.95 and result.test_std is not None and result.selection_accuracy is None
    assert result.num_train == result.num_test == len(y)


# -- kNN ----------------------------------------------------------------------------------------
def test_knn_probe_on_separable_and_random_labels() -> None:
    X, y = blobs(60)
    result = knn_probe(X, y, standard_splits(len(y)))
    assert (
        result.protocol == "knn"
        and result.test_accuracy >= 0.95
        and result.selected["k"] in knn_module.DEFAULT_KS
    )
    Xr, yr = random_label_data()
    assert abs(knn_probe(Xr, yr, standard_splits(len(yr))).test_accuracy - 0.25) < 0.12


def test_knn_probe_uses_cosine_distance() -> None:
    """Classes differ in direction, not norm: a Euclidean kNN would mix them up."""
    rng = np.random.default_rng(3)
    n = 200
    y = rng.integers(0, 2, n)
    angle = np.where(y == 1, 0.0, np.pi / 2) + 0.1 * rng.standard_normal(n)
    norm = np.where(rng.random(n) < 0.5, 1.0, 50.0)
    X = np.stack([norm * np.cos(angle), norm * np.sin(angle)], axis=1).astype(np.float32)
    assert knn_probe(X, y, standard_splits(n), ks=(5,)).test_accuracy >= 0.95


def test_knn_selects_k_on_val_and_scores_test_once(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = blobs(40)
    splits = standard_splits(len(y))
    rec = Recorder(X)

    class Spy(KNeighborsClassifier):
        def fit(self, X_, y_):
            rec.record(f"fit k={self.n_neighbors}", X_)
            return super().fit(X_, y_)

        def score(self, X_, y_, sample_weight=None):
            rec.record(f"score k={self.n_neighbors}", X_)
            return super().score(X_, y_)

    monkeypatch.setattr(knn_module, "KNeighborsClassifier", Spy)
    result = knn_probe(X, y, splits, ks=(1, 5, 9))
    train, val, test = (frozenset(splits[k].tolist()) for k in ("train", "val", "test"))
    best = result.selected["k"]
    assert rec.calls[:6] == [c for k in (1, 5, 9) for c in ((f"fit k={k}", train), (f"score k={k}", val))]
    assert rec.calls[6:] == [(f"fit k={best}", train), (f"score k={best}", test)]


def test_knn_probe_cross_validates_without_splits(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = blobs(30)
    seen = []
    real = knn_module.cross_val_score

    def spy(estimator, X_, y_, cv):
        seen.append((estimator, cv))
        return real(estimator, X_, y_, cv=cv)

    monkeypatch.setattr(knn_module, "cross_val_score", spy)
    result = knn_probe(X, y, None, ks=(3, 7, 11), folds=5)
    ((estimator, cv),) = seen
    assert estimator.n_neighbors == 7 and result.selected == {"k": 7}  # the median of ks
    assert isinstance(cv, StratifiedKFold) and cv.get_n_splits() == 5
    assert result.test_accuracy >= 0.95 and result.test_std is not None


def test_knn_handles_ks_larger_than_the_training_part() -> None:
    X, y = blobs(4, classes=2)
    splits = {"train": np.arange(4), "val": np.arange(4, 6), "test": np.arange(6, 8)}
    result = knn_probe(X, y, splits, ks=(50, 100))
    assert result.selected["k"] == 4  # no k fits: the whole training part is used


# -- splits -------------------------------------------------------------------------------------------
def test_selection_split_with_and_without_val() -> None:
    y = np.repeat([0, 1], 50)
    splits = {"train": np.arange(80), "val": np.arange(80, 90), "test": np.arange(90, 100)}
    fit, select, test = selection_split(y, splits)
    assert fit.tolist() == list(range(80)) and select.tolist() == list(range(80, 90))
    fit, select, test = selection_split(y, {"train": np.arange(80), "test": np.arange(80, 100)}, holdout=0.25)
    assert len(select) == 20 and set(fit) | set(select) == set(range(80)) and not set(fit) & set(select)
    assert set(test) == set(range(80, 100))
    counts = np.bincount(y[select])  # stratified: train holds 50 zeros and 30 ones
    assert abs(counts[0] - 20 * 50 / 80) <= 1 and abs(counts[1] - 20 * 30 / 80) <= 1
    with pytest.raises(ValueError, match=r"evaluation splits lack 'test': got \['train', 'val'\]"):
        selection_split(y, {"train": np.arange(5), "val": np.arange(5, 9)})


# -- extracting embeddings --------------------------------------------------------------------------------
def eval_set(n: int = 7, batch_size: int = 3) -> EvalSet:
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(8, generator=g), i % 2) for i in range(n)]
    return EvalSet(dataset=data, splits=None, batch_size=batch_size)


def test_extract_embeddings_in_order_in_eval_mode_without_grad() -> None:
    torch.manual_seed(0)
    states = []

    class Probe(AutoEncoder):
        def embed(self, inputs):
            states.append((self.training, torch.is_grad_enabled()))
            return super().embed(inputs)

    task = Probe(VectorEncoder())
    task.train()
    evalset = eval_set()
    X, y = extract_embeddings(task, evalset)
    assert states == [(False, False)] * 3  # batches of 3, 3 and 1
    assert task.training  # mode restored
    inputs = torch.stack([x for x, _ in evalset.dataset])
    with torch.no_grad():
        np.testing.assert_allclose(X, task.encoder(inputs).numpy(), rtol=1e-6)
    assert X.dtype == np.float32 and y.tolist() == [i % 2 for i in range(7)]


@pytest.mark.parametrize(
    ("embed", "message"),
    [
        (
            lambda z: z[:-1],
            r"Broken.embed returned shape \(2, 4\) for a batch of 3 labels; expected \[3, d\]",
        ),
        (lambda z: torch.cat([z, z]), r"returned shape \(6, 4\) for a batch of 3 labels"),
        (lambda z: z.sum(dim=1), r"returned shape \(3,\) for a batch of 3 labels"),
        (lambda z: z * float("nan"), "Broken.embed produced NaN or infinite values"),
    ],
)
def test_extract_embeddings_rejects_bad_embed_output(embed, message: str) -> None:
    class Broken(AutoEncoder):
        def embed(self, inputs):
            return embed(super().embed(inputs))

    task = Broken(VectorEncoder())
    task.train()
    with pytest.raises(ValueError, match=message):
        extract_embeddings(task, eval_set(n=6))
    assert task.training


def test_extract_embeddings_of_an_empty_set() -> None:
    with pytest.raises(ValueError, match="the evaluation set is empty"):
        extract_embeddings(AutoEncoder(VectorEncoder()), EvalSet(dataset=[], splits=None))


def test_get_protocol() -> None:
    assert get_protocol("linear") is linear_probe and get_protocol("knn") is knn_probe
    with pytest.raises(
        UnknownNameError,
        match=r"unknown protocol 'linera'; did you mean 'linear'\? Valid choices: finetune, knn, linear, link",
    ):
        get_protocol("linera")
