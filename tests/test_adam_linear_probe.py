"""The ``linear_adam`` protocol: a linear layer trained by Adam, early-stopped on validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sslcore.evaluation import adam_linear_probe, get_protocol
from sslcore.evaluation.adam_linear import _init_linear
from tests.test_evaluation import DeviceLog, blobs, random_label_data, standard_splits


def reference_probe(X, y, splits, lr=0.01, weight_decay=1e-4, epochs=300, seed=0):
    """The loop of the graph SSL references (GraphMAE's linear probing): ``nn.Linear`` and
    ``torch.optim.Adam``, the test accuracy at the last epoch of best validation accuracy."""
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    train, val, test = (torch.as_tensor(splits[k]) for k in ("train", "val", "test"))
    layer = nn.Linear(X.shape[1], int(y.max()) + 1)
    weight, bias = _init_linear(X.shape[1], int(y.max()) + 1, seed, torch.device("cpu"))
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    optimizer = torch.optim.Adam(layer.parameters(), lr=lr, weight_decay=weight_decay)
    best_val, best_test, best_epoch = -1.0, 0.0, 0
    for epoch in range(1, epochs + 1):
        optimizer.zero_grad()
        nn.functional.cross_entropy(layer(X[train]), y[train]).backward()
        optimizer.step()
        with torch.no_grad():
            pred = layer(X).argmax(1)
        val_acc = (pred[val] == y[val]).float().mean().item()
        if val_acc >= best_val:
            best_val, best_epoch = val_acc, epoch
            best_test = (pred[test] == y[test]).float().mean().item()
    return best_test, best_val, best_epoch


def noisy_blobs():
    """Overlapping clusters: accuracies change from epoch to epoch, so the epoch matters."""
    X, y = blobs(80, classes=4, dim=10, spread=3.0, seed=3)
    return X, y, standard_splits(len(y), seed=1)


@pytest.mark.parametrize("options", [{}, {"weight_decay": 0.0, "lr": 0.05, "epochs": 40}])
def test_matches_the_reference_loop(options) -> None:
    X, y, splits = noisy_blobs()
    result = adam_linear_probe(X, y, splits, seed=2, **options)
    test_acc, val_acc, epoch = reference_probe(X, y, splits, seed=2, **options)
    assert result.selected["epoch"] == epoch and result.selection_accuracy == pytest.approx(val_acc)
    assert result.test_accuracy == pytest.approx(test_acc)
    assert 0.4 < result.test_accuracy < 0.95  # neither trivial nor chance: the epoch mattered
    assert result.protocol == "linear_adam" and get_protocol("linear_adam") is adam_linear_probe


def test_separable_data_and_random_labels() -> None:
    X, y = blobs(60)
    assert adam_linear_probe(X, y, standard_splits(len(y))).test_accuracy >= 0.95
    Xr, yr = random_label_data()
    assert abs(adam_linear_probe(Xr, yr, standard_splits(len(yr))).test_accuracy - 0.25) < 0.12


def test_the_epoch_is_chosen_on_validation_never_on_test() -> None:
    """Scrambling the test labels changes the reported accuracy but not the chosen epoch."""
    X, y, splits = noisy_blobs()
    scrambled = y.copy()
    test = splits["test"]
    scrambled[test] = np.random.default_rng(0).permutation(y[test])
    honest, blind = (adam_linear_probe(X, labels, splits) for labels in (y, scrambled))
    assert honest.selected == blind.selected and honest.selection_accuracy == blind.selection_accuracy
    assert honest.test_accuracy != blind.test_accuracy


def test_without_val_it_stops_on_a_part_of_train() -> None:
    X, y = blobs(40)
    splits = standard_splits(len(y))
    del splits["val"]
    result = adam_linear_probe(X, y, splits, epochs=20)
    assert result.num_train == len(splits["train"]) - round(0.1 * len(splits["train"]))
    assert result.num_test == len(splits["test"]) and 1 <= result.selected["epoch"] <= 20


def test_deterministic_input_type_independent_and_no_default_device_tensors() -> None:
    X, y, splits = noisy_blobs()
    expected = adam_linear_probe(X, y, splits, epochs=30)
    assert adam_linear_probe(X, y, splits, epochs=30) == expected
    assert adam_linear_probe(X, y, splits, epochs=30, seed=1).selected != {} != expected.selected
    with torch.device("meta"), DeviceLog() as log:
        result = adam_linear_probe(torch.from_numpy(X), torch.from_numpy(y), splits, epochs=30)
    assert log.devices == {"cpu"} and result == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X, y, s: (X, y, None), "linear_adam stops on validation rows.*use the 'linear' protocol"),
        (lambda X, y, s: (X, y, {**s, "val": s["val"][:0]}), "linear_adam: evaluation split 'val' is empty"),
        (
            lambda X, y, s: (np.where(np.arange(len(y))[:, None] == 3, np.nan, X), y, s),
            "linear_adam: X holds NaN",
        ),
        (lambda X, y, s: (X, y[:-1], s), r"linear_adam needs X \[n, d\] and y \[n\]"),
    ],
)
def test_bad_input(change, message: str) -> None:
    X, y = blobs(20)
    with pytest.raises(ValueError, match=message):
        adam_linear_probe(*change(X, y, standard_splits(len(y))))
