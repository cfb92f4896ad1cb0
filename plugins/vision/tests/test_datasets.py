from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from sslcore import DataNotFoundError
from sslcore.build import build_dataset

FMNIST_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def test_fashion_mnist_reads_the_real_files(shared_data, registry, isolated_cache):
    bundle = build_dataset("fashion-mnist", shared_data, registry=registry)
    assert len(bundle.pretrain) == 60000
    assert bundle.pretrain[0].shape == (1, 28, 28) and bundle.pretrain[0].dtype == torch.uint8
    evaluation = bundle.evaluation
    assert len(evaluation.dataset) == 70000
    assert len(evaluation.splits["train"]) == 60000 and len(evaluation.splits["test"]) == 10000
    assert not set(evaluation.splits["train"]) & set(evaluation.splits["test"])
    labels = evaluation.dataset.tensors[1]
    assert evaluation.num_classes == bundle.info["num_classes"] == 10
    assert set(labels.tolist()) == set(range(10))
    assert Counter(labels[evaluation.splits["test"]].tolist()) == dict.fromkeys(range(10), 1000)
    assert bundle.info["in_channels"] == 1 and bundle.info["image_size"] == 28
    # pretraining images are the evaluation's training rows, without labels
    assert torch.equal(bundle.pretrain[:5], evaluation.dataset.tensors[0][:5])
    assert list(isolated_cache.glob("fashion-mnist/*/FashionMNIST/raw/train-images-idx3-ubyte"))


def test_evaluation_batches_are_normalised_with_the_training_statistics(
    shared_data, registry, isolated_cache
):
    bundle = build_dataset("fashion-mnist", shared_data, {"train_subset": 2000}, registry)
    images, labels = bundle.evaluation.collate([bundle.evaluation.dataset[i] for i in range(2000)])
    assert images.dtype == torch.float32 and images.shape == (2000, 1, 28, 28)
    assert labels.dtype == torch.long and labels.shape == (2000,)
    assert abs(images.mean().item()) < 0.05 and abs(images.std().item() - 1) < 0.05


def test_torchvision_layout_and_subsets(shared_data, registry, isolated_cache, tmp_path):
    raw = tmp_path / "root" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FMNIST_FILES:
        (raw / f"{name}.gz").symlink_to(shared_data / "fashion-mnist" / f"{name}.gz")
    bundle = build_dataset(
        "fashion-mnist", tmp_path / "root", {"train_subset": 500, "test_subset": 200}, registry
    )
    assert len(bundle.pretrain) == 500
    assert [len(bundle.evaluation.splits[s]) for s in ("train", "test")] == [500, 200]
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{n}.gz" for n in FMNIST_FILES)  # root untouched


@pytest.mark.parametrize("make_root", [lambda tmp: tmp, lambda tmp: None], ids=["empty-root", "no-root"])
def test_missing_fashion_mnist_names_the_expected_files(registry, isolated_cache, tmp_path, make_root):
    with pytest.raises(DataNotFoundError) as info:
        build_dataset("fashion-mnist", make_root(tmp_path), registry=registry)
    for name in FMNIST_FILES:
        assert f"fashion-mnist/{name}.gz" in str(info.value)


def test_digits_needs_no_root_and_splits_stratified(registry, digits_bundle):
    assert registry.dataset("digits").needs_root is False
    evaluation = digits_bundle.evaluation
    train, test = evaluation.splits["train"], evaluation.splits["test"]
    assert len(train) + len(test) == 1797 and len(test) == math.ceil(
        0.3 * 1797
    )  # sklearn rounds the test share up
    assert len(digits_bundle.pretrain) == len(train)
    labels = evaluation.dataset.tensors[1].numpy()
    train_share = np.bincount(labels[train], minlength=10) / len(train)
    test_share = np.bincount(labels[test], minlength=10) / len(test)
    assert np.abs(train_share - test_share).max() < 0.01
    images = digits_bundle.pretrain
    assert images.dtype == torch.uint8 and images.shape[1:] == (1, 16, 16) and images.max() > 200
    assert digits_bundle.info["image_size"] == 16


def test_digits_native_size_and_fixed_split(registry, digits_bundle):
    small = build_dataset("digits", None, {"image_size": 8}, registry)
    assert small.pretrain.shape[1:] == (1, 8, 8)
    assert np.array_equal(small.evaluation.dataset.tensors[1], digits_bundle.evaluation.dataset.tensors[1])
