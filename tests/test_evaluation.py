"""Evaluation protocols on synthetic embeddings, and embedding extraction through ``embed``."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import sslcore.evaluation.knn as knn_module
import sslcore.evaluation.linear as linear_module
from sslcore.data import EvalSet
from sslcore.errors import UnknownNameError
from sslcore.evaluation import extract_embeddings, get_protocol, knn_probe, linear_probe
from sslcore.evaluation.splits import selection_split
from sslcore.evaluation.torch_linear import Standardiser, fit_logistic
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
        match=r"unknown protocol 'linera'; did you mean 'linear'\? Valid choices: finetune, knn, linear, linear_adam, link",
    ):
        get_protocol("linera")


# -- the torch solver -----------------------------------------------------------------------------
def fashion_mnist_embeddings(root: Path, n_train: int = 5000, n_test: int = 2000, width: int = 128):
    """A random one-layer encoder's embeddings of Fashion-MNIST: ``relu(pixels / 255 @ P)``
    with a fixed Gaussian ``P`` ``[784, width]``, for ``n_train`` / ``n_test`` images drawn
    (seed 0) from the standard train / test splits; ``(X, y, splits)`` without ``"val"``."""

    def idx(name: str, offset: int) -> np.ndarray:
        with gzip.open(root / "fashion-mnist" / f"{name}-ubyte.gz") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)

    rng = np.random.default_rng(0)
    images, labels = [], []
    for part, n, total in (("train", n_train, 60_000), ("t10k", n_test, 10_000)):
        rows = rng.choice(total, n, replace=False)
        images.append(idx(f"{part}-images-idx3", 16).reshape(total, 784)[rows])
        labels.append(idx(f"{part}-labels-idx1", 8)[rows].astype(np.int64))
    P = rng.standard_normal((784, width)).astype(np.float32) / 28
    X = np.maximum(np.concatenate(images).astype(np.float32) / 255 @ P, 0)
    splits = {"train": np.arange(n_train), "test": np.arange(n_train, n_train + n_test)}
    return X, np.concatenate(labels), splits


def cora_features(root: Path):
    """Cora's raw bag-of-words features ``[2708, 1433]``, labels and the Planetoid split
    (140 / 500 / 1000), read from the raw files (nothing is written or downloaded)."""
    planetoid = pytest.importorskip("torch_geometric.io", reason="reads the Planetoid files")
    graph = planetoid.read_planetoid_data(str(root / "planetoid" / "Cora" / "raw"), "cora")
    splits = {k: np.flatnonzero(graph[f"{k}_mask"].numpy()) for k in ("train", "val", "test")}
    return graph.x.numpy(), graph.y.numpy(), splits


def both_solvers(X: np.ndarray, y: np.ndarray, splits, **options):
    return tuple(linear_probe(X, y, splits, solver=s, **options) for s in ("sklearn", "torch"))


def test_torch_probe_matches_sklearn_on_fashion_mnist(shared_data: Path) -> None:
    """The issue's acceptance: the same C and test accuracy within 0.3 points (6 of 2000 images).
    Here C = 0.1 wins the selection by 3 of 500 held-out images for both solvers (C is chosen
    on a finite set: where two values of C tie within an image or two, either solver may pick
    either one, a legitimate difference this data avoids)."""
    X, y, splits = fashion_mnist_embeddings(shared_data)
    sk, tc = both_solvers(X, y, splits)
    assert tc.selected == sk.selected
    assert abs(tc.test_accuracy - sk.test_accuracy) <= 0.003, (sk, tc)
    assert sk.selected == {"C": 0.1} and sk.test_accuracy > 0.75  # a real probe, not chance


def test_torch_probe_matches_sklearn_on_cora(shared_data: Path) -> None:
    """The same C and test accuracy within 0.3 points (3 of 1000 nodes). The protocol picks
    the smallest C here, so every C of the grid is compared as well."""
    X, y, splits = cora_features(shared_data)
    sk, tc = both_solvers(X, y, splits)
    assert tc.selected == sk.selected
    assert abs(tc.test_accuracy - sk.test_accuracy) <= 0.003, (sk, tc)
    train, test = splits["train"], splits["test"]
    for C in linear_module.DEFAULT_CS:
        one = [
            linear_probe(X, y, {"train": train, "val": test, "test": test}, Cs=(C,), solver=s)
            for s in ("sklearn", "torch")
        ]
        assert abs(one[0].test_accuracy - one[1].test_accuracy) <= 0.003, (C, one)


def test_torch_probe_nested_cross_validation_matches_sklearn() -> None:
    """``splits=None``: the torch solver runs the same outer folds and inner 5-fold choice of C."""
    X, y = blobs(40, classes=3, spread=2.5, seed=2)
    sk, tc = both_solvers(X, y, None, Cs=(0.01, 1.0), folds=4)
    assert 0.7 < sk.test_accuracy < 0.99  # overlapping clusters: the folds' models matter
    assert (tc.test_accuracy, tc.test_std) == pytest.approx((sk.test_accuracy, sk.test_std), abs=1e-9)
    assert (tc.num_train, tc.num_test, tc.selection_accuracy) == (sk.num_train, sk.num_test, None)


@pytest.mark.parametrize("classes", [2, 4])
def test_fit_logistic_minimises_sklearns_objective(classes: int) -> None:
    """In float64 with a tight tolerance both solvers reach the same weights: the objective
    (scaling of the penalty, unpenalised intercept, the binomial model for two classes) is
    scikit-learn's, so one C means one model."""
    X, y = random_label_data(n=300, classes=classes)
    X = X.astype(np.float64)  # scikit-learn fits float32 data in float32
    X[:, 0] += y  # some signal, so the weights are not all small
    for C in (0.05, 5.0):
        sk = linear_module._model(C, 10_000, 0).set_params(logisticregression__tol=1e-10).fit(X, y)
        tc = fit_logistic(torch.as_tensor(X), torch.as_tensor(y), C, 10_000, tol=1e-10)
        scaler, lr = sk.named_steps["standardscaler"], sk.named_steps["logisticregression"]
        np.testing.assert_allclose(tc.scaler.mean.numpy(), scaler.mean_, rtol=1e-12)
        np.testing.assert_allclose(tc.scaler.scale.numpy(), scaler.scale_, rtol=1e-12)
        np.testing.assert_allclose(tc.weight.numpy(), lr.coef_, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(tc.bias.numpy(), lr.intercept_, rtol=1e-5, atol=1e-7)


def test_standardiser_keeps_constant_features() -> None:
    X = torch.tensor([[1.0, 3.0], [3.0, 3.0], [5.0, 3.0]])
    scaler = Standardiser.fit(X)
    assert scaler.scale.tolist() == pytest.approx([(8 / 3) ** 0.5, 1.0])
    assert scaler(X)[:, 1].tolist() == [0.0, 0.0, 0.0]


def test_torch_probe_is_deterministic_and_input_type_independent() -> None:
    """Two runs give identical numbers; numpy or torch, float32 or float64 inputs, and
    ``device=None`` (the tensor's device) or ``"cpu"`` all give the same result."""
    X, y = blobs(50, classes=3, spread=2.5, seed=4)
    splits = standard_splits(len(y))
    runs = [
        linear_probe(X, y, splits, solver="torch"),
        linear_probe(X, y, splits, solver="torch"),
        linear_probe(torch.from_numpy(X), torch.from_numpy(y), splits, solver="torch"),
        linear_probe(X.astype(np.float64), y, splits, solver="torch", device="cpu"),
    ]
    assert all(r == runs[0] for r in runs[1:])
    first, second = (fit_logistic(torch.from_numpy(X), torch.from_numpy(y), 1.0) for _ in range(2))
    assert torch.equal(first.weight, second.weight) and torch.equal(first.bias, second.bias)


class DeviceLog(TorchDispatchMode):
    """Records the device of every tensor that every ATen operation returns."""

    def __init__(self) -> None:
        super().__init__()
        self.devices: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.devices.update(str(t.device) for t in tree_leaves(out) if isinstance(t, torch.Tensor))
        return out


def test_torch_probe_makes_no_tensor_on_the_default_device() -> None:
    """On a GPU every tensor must live beside the embeddings. Checked on the CPU: the run
    is made with torch's default device set to ``meta``, so a tensor made without an explicit
    device (``torch.zeros(3)``, ``torch.tensor(...)``) would land on ``meta``; mixing it with
    the CPU data raises, and :class:`DeviceLog` sees every operation's outputs, so even an unmixed
    one is caught. The first block shows that this harness does catch such a tensor."""
    with pytest.raises(RuntimeError, match="meta"), torch.device("meta"), DeviceLog():
        torch.ones(3, device="cpu") + torch.zeros(3)
    X, y = blobs(30)
    splits = standard_splits(len(y))
    expected = linear_probe(X, y, splits, solver="torch", Cs=(0.1, 1.0))
    for inputs in ((X, y), (torch.from_numpy(X), torch.from_numpy(y))):
        with torch.device("meta"), DeviceLog() as log:
            result = linear_probe(*inputs, splits, solver="torch", Cs=(0.1, 1.0))
        assert log.devices == {"cpu"} and result == expected


def test_solver_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """``auto``: scikit-learn for the CPU (and ``device=None``), torch on an accelerator."""
    X, y = blobs(20)
    splits = standard_splits(len(y))
    used: list[str] = []
    real_model, real_torch = linear_module._model, linear_module._torch_fit_score

    def torch_spy(X_, y_, max_iter, device):
        used.append(f"torch on {device}")
        return real_torch(X_, y_, max_iter, torch.device("cpu"))  # no GPU here

    monkeypatch.setattr(linear_module, "_model", lambda *a: (used.append("sklearn"), real_model(*a))[1])
    monkeypatch.setattr(linear_module, "_torch_fit_score", torch_spy)
    for device in (None, "cpu", torch.device("cpu")):
        used.clear()
        linear_probe(X, y, splits, Cs=(1.0,), device=device)
        assert used == ["sklearn", "sklearn"]
    for device, solver in (("cuda", "auto"), (torch.device("cuda", 1), "torch"), ("cpu", "torch")):
        used.clear()
        linear_probe(X, y, splits, Cs=(1.0,), device=device, solver=solver)
        assert used == [f"torch on {torch.device(device)}"]


def with_values(X: np.ndarray, rows: list[int], value: float) -> np.ndarray:
    X = X.copy()
    X[rows, 1] = value
    return X


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X, y, s: (X, y, {**s, "val": s["val"][:0]}), "evaluation split 'val' is empty"),
        (lambda X, y, s: (X, y, {**s, "train": []}), "evaluation split 'train' is empty"),
        (
            lambda X, y, s: (with_values(X, [7], np.nan), y, s),
            r"X holds NaN or infinite values in 1 of 60 rows \(first: row 7\)",
        ),
        (
            lambda X, y, s: (with_values(X, [9, 4], -np.inf), y, s),
            r"X holds NaN or infinite values in 2 of 60 rows \(first: row 4\)",
        ),
        (lambda X, y, s: (X, y[:-1], s), r"needs X \[n, d\] and y \[n\]; got shapes \(60, 6\) and \(59,\)"),
        (lambda X, y, s: (X[:, 0], y, s), r"got shapes \(60,\) and \(60,\)"),
    ],
)
@pytest.mark.parametrize("solver", ["sklearn", "torch"])
def test_linear_probe_rejects_bad_input(change, message: str, solver: str) -> None:
    X, y = blobs(20)
    args = change(X, y, standard_splits(len(y)))
    with pytest.raises(ValueError, match=message):
        linear_probe(*args, solver=solver)


def test_linear_probe_rejects_a_bad_solver_choice() -> None:
    X, y = blobs(10)
    with pytest.raises(
        ValueError, match="unknown linear probe solver 'torhc'; valid choices: auto, sklearn, torch"
    ):
        linear_probe(X, y, standard_splits(len(y)), solver="torhc")
    with pytest.raises(ValueError, match="solver='sklearn' runs on the CPU only, not on device 'cuda:0'"):
        linear_probe(X, y, standard_splits(len(y)), solver="sklearn", device="cuda:0")
    with pytest.raises(ValueError, match=r"the fitting rows hold a single class \(\[2\]\)"):
        linear_probe(X, np.full_like(y, 2), standard_splits(len(y)), solver="torch")
