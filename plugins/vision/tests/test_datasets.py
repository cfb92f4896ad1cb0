from __future__ import annotations

import gzip
import math
import os
import pickle
import re
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar as tv_cifar
import torchvision.datasets.stl10 as tv_stl10
import torchvision.datasets.utils as tv_utils
from PIL import Image
from torchvision.datasets import CIFAR10, MNIST, STL10

from sslcore import ConfigError, DataNotFoundError
from sslcore.build import build_dataset
from sslcore_vision.datasets.image_bundle import image_bundle
from sslcore_vision.datasets.torchvision_files import CorruptDataError

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


# ---- datasets read from tiny fake files in the exact formats torchvision reads ----

RNG = np.random.default_rng(0)
DOWNLOAD_OPTION = "download=True"


def write_idx(path, array: np.ndarray) -> None:
    """An IDX file (``.gz`` if the name says so): magic 0x08 0x0<ndim>, big-endian sizes, uint8 data."""
    payload = (
        struct.pack(f">I{array.ndim}I", 0x0800 + array.ndim, *array.shape) + array.astype(np.uint8).tobytes()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)


def fake_mnist(raw, n_train: int = 30, n_test: int = 20, suffix: str = ""):
    """The four MNIST files in ``raw``; returns (train images, train labels, test images, test labels)."""
    parts = []
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx(raw / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        parts += [images, labels]
    return parts


def fake_cifar(root, name: str, n_per_file: int = 6):
    """CIFAR python pickles: rows of 3072 bytes (R, G, B planes of 32x32); returns the
    train and test ``(data [N, 3072], labels)``."""
    ten = name == "cifar10"
    folder = root / ("cifar-10-batches-py" if ten else "cifar-100-python")
    splits = ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"]) if ten else (["train"], ["test"])
    key, classes = ("labels", 10) if ten else ("fine_labels", 100)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for files in splits:
        data, labels = [], []
        for f in files:
            rows = RNG.integers(0, 256, (n_per_file, 3072), dtype=np.uint8)
            y = [int(v) for v in RNG.integers(0, classes, n_per_file)]
            with open(folder / f, "wb") as fh:
                pickle.dump({"data": rows, key: y}, fh)
            data.append(rows)
            labels += y
        out.append((np.concatenate(data), labels))
    meta, names = ("batches.meta", "label_names") if ten else ("meta", "fine_label_names")
    with open(folder / meta, "wb") as fh:
        pickle.dump({names: [f"class{i}" for i in range(classes)]}, fh)
    return out


def fake_stl10(root, n_train: int = 6, n_test: int = 4, n_unlabeled: int = 8):
    """STL-10 binaries: images ``[N, 3, 96, 96]`` stored column-major (as the release does),
    labels 1..10; returns {split: (images [N, 3, 96, 96], labels 0..9 or None)}."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled)):
        images = RNG.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)
        (folder / f"{split}_X.bin").write_bytes(images.transpose(0, 1, 3, 2).tobytes())
        labels = None
        if split != "unlabeled":
            labels = np.arange(n) % 10
            (folder / f"{split}_y.bin").write_bytes((labels + 1).astype(np.uint8).tobytes())
        out[split] = (images, labels)
    return out


@pytest.fixture
def skip_md5(monkeypatch):
    """Fake CIFAR / STL-10 files cannot match the release's MD5 sums that torchvision checks:
    let its integrity check test only that each file exists."""
    exists = lambda fpath, md5=None: os.path.isfile(fpath)  # noqa: E731
    monkeypatch.setattr(tv_cifar, "check_integrity", exists)
    monkeypatch.setattr(tv_stl10, "check_integrity", exists)


@pytest.fixture
def no_download(monkeypatch):
    """Any attempt to download fails the test (torchvision would only call these with download=True)."""

    def forbidden(self):
        raise AssertionError(f"{type(self).__name__} tried to download")

    for cls in (MNIST, CIFAR10, STL10):
        monkeypatch.setattr(cls, "download", forbidden)


def check_bundle(bundle, channels: int, size: int, n_train: int, n_test: int, num_classes: int) -> None:
    """Shapes, dtypes, splits and info every image bundle shares."""
    evaluation = bundle.evaluation
    images, labels = evaluation.dataset.tensors
    assert images.dtype == torch.uint8 and images.shape == (n_train + n_test, channels, size, size)
    assert labels.dtype == torch.long and 0 <= labels.min() and labels.max() < num_classes
    assert list(evaluation.splits["train"]) == list(range(n_train))
    assert list(evaluation.splits["test"]) == list(range(n_train, n_train + n_test))
    assert evaluation.num_classes == num_classes
    pixels = (images[:n_train].double() / 255).transpose(0, 1).reshape(channels, -1)
    info = bundle.info
    assert (info["in_channels"], info["image_size"], info["num_classes"]) == (channels, size, num_classes)
    np.testing.assert_allclose(info["mean"], pixels.mean(1).numpy(), rtol=1e-9)  # training rows only
    np.testing.assert_allclose(info["std"], pixels.std(1).numpy(), rtol=1e-9)
    batch, batch_labels = evaluation.collate([evaluation.dataset[i] for i in range(3)])
    assert batch.dtype == torch.float32 and batch.shape == (3, channels, size, size)
    assert torch.equal(batch_labels, labels[:3])


def test_new_datasets_are_registered_and_need_a_root(registry):
    for name in ("mnist", "cifar10", "cifar100", "stl10", "image-folder"):
        spec = registry.dataset(name)
        assert spec.needs_root is True and spec.sample == "image"


def test_mnist_reads_torchvisions_layout(registry, tmp_path, no_download):
    train_x, train_y, test_x, test_y = fake_mnist(tmp_path / "MNIST" / "raw")
    bundle = build_dataset("mnist", tmp_path, registry=registry)
    check_bundle(bundle, channels=1, size=28, n_train=30, n_test=20, num_classes=10)
    assert torch.equal(bundle.pretrain, torch.from_numpy(train_x).unsqueeze(1))
    images, labels = bundle.evaluation.dataset.tensors
    assert torch.equal(images[30:, 0], torch.from_numpy(test_x))
    assert labels.tolist() == train_y.tolist() + test_y.tolist()


def test_mnist_reads_the_original_gz_files_without_writing_the_root(
    registry, tmp_path, isolated_cache, no_download
):
    fake_mnist(tmp_path / "root" / "mnist", suffix=".gz")
    before = sorted(p.name for p in (tmp_path / "root").rglob("*"))
    bundle = build_dataset("mnist", tmp_path / "root", {"train_subset": 12, "test_subset": 5}, registry)
    assert len(bundle.pretrain) == 12
    assert [len(bundle.evaluation.splits[s]) for s in ("train", "test")] == [12, 5]
    assert sorted(p.name for p in (tmp_path / "root").rglob("*")) == before
    assert list(isolated_cache.glob("mnist/*/MNIST/raw/train-images-idx3-ubyte"))


def test_a_truncated_idx_file_is_named(registry, tmp_path, no_download):
    raw = tmp_path / "MNIST" / "raw"
    fake_mnist(raw)
    (raw / "t10k-images-idx3-ubyte").write_bytes((raw / "t10k-images-idx3-ubyte").read_bytes()[:100])
    with pytest.raises(CorruptDataError, match="t10k-images-idx3-ubyte"):
        build_dataset("mnist", tmp_path, registry=registry)


def cache_entries(cache: Path) -> list[str]:
    """Every file and folder under ``cache``, relative to it."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) if cache.exists() else []


def test_a_truncated_gz_file_is_named_and_leaves_nothing_in_the_cache(
    shared_data, registry, isolated_cache, tmp_path, no_download
):
    folder = tmp_path / "root" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name in FMNIST_FILES:
        (folder / f"{name}.gz").symlink_to(shared_data / "fashion-mnist" / f"{name}.gz")
    bad = folder / "t10k-labels-idx1-ubyte.gz"
    good = bad.resolve()
    bad.unlink()
    bad.write_bytes(good.read_bytes()[:2000])  # a copy cut short
    options = {"train_subset": 100, "test_subset": 50}
    with pytest.raises(CorruptDataError) as info:
        build_dataset("fashion-mnist", tmp_path / "root", options, registry)
    message = str(info.value)
    assert str(bad) in message and "copy it again" in message and "EOFError" in message
    assert cache_entries(isolated_cache / "fashion-mnist") == []  # no staging folder, no partial entry
    # the user copies the file again: the next run extracts and reads it
    bad.unlink()
    bad.symlink_to(good)
    bundle = build_dataset("fashion-mnist", tmp_path / "root", options, registry)
    assert len(bundle.pretrain) == 100 and len(bundle.evaluation.splits["test"]) == 50
    (entry,) = (isolated_cache / "fashion-mnist").iterdir()
    assert sorted(p.name for p in (entry / "FashionMNIST" / "raw").iterdir()) == sorted(FMNIST_FILES)
    assert cache_entries(isolated_cache / "fashion-mnist") == sorted(
        [entry.name, f"{entry.name}/FashionMNIST", f"{entry.name}/FashionMNIST/raw"]
        + [f"{entry.name}/FashionMNIST/raw/{f}" for f in FMNIST_FILES]
    )


def test_a_gz_file_holding_a_truncated_idx_file_names_the_gz_file(
    registry, isolated_cache, tmp_path, no_download
):
    folder = tmp_path / "root" / "mnist"
    fake_mnist(folder, suffix=".gz")
    bad = folder / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(gzip.decompress(bad.read_bytes())[:12]))  # valid gzip, short IDX
    with pytest.raises(CorruptDataError, match=re.escape(str(bad))):
        build_dataset("mnist", tmp_path / "root", registry=registry)


def test_a_truncated_cifar_pickle_is_named_even_when_no_md5_sum_is_checked(
    registry, tmp_path, skip_md5, no_download
):
    fake_cifar(tmp_path, "cifar10")
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(bad.read_bytes()[:500])
    with pytest.raises(CorruptDataError, match=r"(?s)cifar-10-batches-py/data_batch_3.*copy them again"):
        build_dataset("cifar10", tmp_path, registry=registry)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_reads_the_python_pickles(registry, tmp_path, skip_md5, no_download, name):
    (train_x, train_y), (test_x, test_y) = fake_cifar(tmp_path, name)
    bundle = build_dataset(name, tmp_path, registry=registry)
    num_classes = 10 if name == "cifar10" else 100
    check_bundle(bundle, 3, 32, len(train_x), len(test_x), num_classes)
    # CHW rows: channel c is the c-th 1024-byte plane of the pickled row
    assert torch.equal(bundle.pretrain[0], torch.from_numpy(train_x[0].reshape(3, 32, 32)))
    assert bundle.evaluation.dataset.tensors[1].tolist() == train_y + test_y
    subset = build_dataset(name, tmp_path, {"train_subset": 4, "test_subset": 3}, registry)
    assert [len(subset.evaluation.splits[s]) for s in ("train", "test")] == [4, 3] and len(
        subset.pretrain
    ) == 4


def test_cifar_files_failing_torchvisions_md5_check_are_named(registry, tmp_path, no_download):
    fake_cifar(tmp_path, "cifar10")
    with pytest.raises(CorruptDataError, match=r"(?s)cifar-10-batches-py/data_batch_1.*MD5.*download=True"):
        build_dataset("cifar10", tmp_path, registry=registry)


def test_stl10_pretrains_on_the_unlabelled_images(registry, tmp_path, skip_md5, no_download):
    parts = fake_stl10(tmp_path)
    bundle = build_dataset("stl10", tmp_path, registry=registry)
    check_bundle(bundle, 3, 96, n_train=6, n_test=4, num_classes=10)
    assert torch.equal(bundle.pretrain, torch.from_numpy(parts["unlabeled"][0]))
    images, labels = bundle.evaluation.dataset.tensors
    assert torch.equal(images[:6], torch.from_numpy(parts["train"][0]))  # orientation kept
    assert labels.tolist() == parts["train"][1].tolist() + parts["test"][1].tolist()  # 1..10 -> 0..9


@pytest.mark.parametrize("pretrain,count", [("train+unlabeled", 6 + 5), ("train", 6)])
def test_stl10_pretraining_choices_subsets_and_downscaling(
    registry, tmp_path, skip_md5, no_download, pretrain, count
):
    fake_stl10(tmp_path)
    options = {"pretrain": pretrain, "image_size": 32, "unlabeled_subset": 5, "test_subset": 3}
    bundle = build_dataset("stl10", tmp_path, options, registry)
    assert bundle.pretrain.shape == (count, 3, 32, 32) and bundle.pretrain.dtype == torch.uint8
    check_bundle(bundle, 3, 32, n_train=6, n_test=3, num_classes=10)


MISSING = {
    "fashion-mnist": [f"fashion-mnist/{name}.gz" for name in FMNIST_FILES],
    "mnist": ["mnist/train-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"],
    "cifar10": [
        "cifar-10-batches-py/data_batch_1",
        "cifar-10-batches-py/test_batch",
        "cifar-10-batches-py/batches.meta",
    ],
    "cifar100": ["cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"],
    "stl10": ["stl10_binary/train_X.bin", "stl10_binary/unlabeled_X.bin", "stl10_binary/test_y.bin"],
}


@pytest.mark.parametrize("make_root", [lambda tmp: tmp, lambda tmp: None], ids=["empty-root", "no-root"])
@pytest.mark.parametrize("name", sorted(MISSING))
def test_missing_files_are_named_with_the_download_option(
    registry, tmp_path, isolated_cache, no_download, name, make_root
):
    with pytest.raises(DataNotFoundError) as info:
        build_dataset(name, make_root(tmp_path), registry=registry)
    for path in MISSING[name]:
        assert path in str(info.value)
    assert DOWNLOAD_OPTION in str(info.value)


def test_download_is_passed_to_torchvision_only_when_asked(registry, tmp_path, monkeypatch, skip_md5):
    """With download=True torchvision's own download runs (here faked: it writes the files)."""
    calls = []

    def fake_download(self):
        calls.append(self.root)
        if not (Path(self.root) / "cifar-10-batches-py" / "test_batch").exists():
            fake_cifar(Path(self.root), "cifar10")

    monkeypatch.setattr(CIFAR10, "download", fake_download)
    bundle = build_dataset("cifar10", tmp_path, {"download": True}, registry)
    assert calls and all(Path(c) == tmp_path for c in calls) and bundle.info["in_channels"] == 3
    calls.clear()
    build_dataset("cifar10", tmp_path, registry=registry)
    assert calls == []
    with pytest.raises(ConfigError, match="download=True needs a data root"):
        build_dataset("cifar10", None, {"download": True}, registry)


# ---- image-folder ----


def write_png(path, size: tuple[int, int], colour=(200, 30, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def fake_tree(root, sizes=((20, 14), (12, 12), (30, 18))) -> None:
    """Three classes of five PNGs each; the sizes cycle through ``sizes`` (width, height)."""
    for c, (cls, colour) in enumerate(
        {"cat": (200, 30, 30), "dog": (30, 200, 30), "owl": (30, 30, 200)}.items()
    ):
        for i in range(5):
            write_png(root / cls / f"{i}.png", sizes[(i + c) % len(sizes)], colour)


def test_image_folder_resizes_mixed_sizes_and_splits_stratified(registry, tmp_path):
    fake_tree(tmp_path)
    bundle = build_dataset("image-folder", tmp_path, {"image_size": 8, "test_fraction": 0.4}, registry)
    check_bundle(bundle, 3, 8, n_train=9, n_test=6, num_classes=3)
    images, labels = bundle.evaluation.dataset.tensors
    assert Counter(labels[9:].tolist()) == {0: 2, 1: 2, 2: 2}  # 40 % of each class
    assert torch.equal(bundle.pretrain, images[:9])
    cats = images[labels == 0]
    assert (cats[:, 0] > 150).all() and (cats[:, 1] < 80).all()  # ImageFolder's class order: cat, dog, owl
    again = build_dataset("image-folder", tmp_path, {"image_size": 8, "test_fraction": 0.4}, registry)
    assert torch.equal(again.evaluation.dataset.tensors[0], images)  # fixed split


def test_image_folder_grey_native_size_and_sub_folder(registry, tmp_path):
    fake_tree(tmp_path / "pics", sizes=((10, 10),))
    bundle = build_dataset("image-folder", tmp_path, {"folder": "pics", "channels": 1}, registry)
    check_bundle(bundle, 1, 10, n_train=12, n_test=3, num_classes=3)


@pytest.mark.parametrize(
    "sizes,match",  # (width, height): mixed sizes, or every image 12 high and 30 wide
    [
        (((20, 14), (12, 12), (30, 18)), r"different sizes .* pass image_size="),
        (((30, 12),), r"12x30 \(height x width\).* square .* image_size="),
    ],
)
def test_image_folder_of_mixed_or_non_square_images_needs_image_size(registry, tmp_path, sizes, match):
    fake_tree(tmp_path, sizes=sizes)
    with pytest.raises(ConfigError, match=match):
        build_dataset("image-folder", tmp_path, registry=registry)
    bundle = build_dataset("image-folder", tmp_path, {"image_size": 12}, registry)
    assert bundle.info["image_size"] == 12 and bundle.pretrain.shape[-2:] == (12, 12)


def test_image_folder_marks_grey_photos_read_as_rgb(registry, tmp_path):
    for c, cls in enumerate(("a", "b")):
        for i in range(3):
            path = tmp_path / "grey" / cls / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("L", (8, 8), 40 * i + 100 * c).save(path)
    bundle = build_dataset("image-folder", tmp_path, {"folder": "grey"}, registry)
    assert bundle.info["in_channels"] == 3 and bundle.info["grey"] is True
    fake_tree(tmp_path / "colour", sizes=((8, 8),))
    assert build_dataset("image-folder", tmp_path, {"folder": "colour"}, registry).info["grey"] is False


def test_a_constant_channel_normalises_to_zero_instead_of_dividing_by_zero():
    images = torch.randint(
        0, 256, (6, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    images[:, 2] = 7
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    bundle = image_bundle("constant-blue", (images[:4], labels[:4]), (images[4:], labels[4:]), 2)
    assert bundle.info["std"][2] == pytest.approx(1 / 255) and bundle.info["std"][0] > 0.1
    batch, _ = bundle.evaluation.collate([bundle.evaluation.dataset[i] for i in range(6)])
    assert torch.isfinite(batch).all() and batch[:, 2].abs().max() < 1e-4


def test_a_truncated_image_is_named(registry, tmp_path):
    fake_tree(tmp_path, sizes=((16, 16),))
    bad = tmp_path / "dog" / "3.png"
    write_png(bad, (64, 64))
    bad.write_bytes(bad.read_bytes()[:80])
    with pytest.raises(CorruptDataError, match=re.escape(str(bad))):
        build_dataset("image-folder", tmp_path, {"image_size": 16}, registry)


@pytest.mark.parametrize(
    "name,options,match",
    [
        ("image-folder", {"channels": 2}, "channels must be 1"),
        ("image-folder", {"test_fraction": 1.0}, "test_fraction"),
        ("image-folder", {"image_size": 0}, "image_size"),
        ("stl10", {"pretrain": "labelled"}, "pretrain must be one of unlabeled, train"),
    ],
)
def test_bad_options_are_rejected(registry, tmp_path, name, options, match):
    with pytest.raises(ConfigError, match=match):
        build_dataset(name, tmp_path, options, registry)


def test_image_folder_without_class_folders_names_the_layout(registry, tmp_path):
    with pytest.raises(DataNotFoundError, match=r"<class>/<image>"):
        build_dataset("image-folder", tmp_path, registry=registry)
    with pytest.raises(DataNotFoundError, match=r"<class>/<image>"):
        build_dataset("image-folder", None, registry=registry)


def test_only_the_files_failing_their_md5_sum_are_named(registry, tmp_path, monkeypatch, no_download):
    fake_cifar(tmp_path, "cifar10")
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"truncated")

    def check(fpath, md5=None):  # the fake files pass, except the truncated one
        return os.path.isfile(fpath) and not str(fpath).endswith("test_batch")

    monkeypatch.setattr(tv_cifar, "check_integrity", check)
    monkeypatch.setattr(tv_utils, "check_integrity", check)
    with pytest.raises(CorruptDataError) as info:
        build_dataset("cifar10", tmp_path, registry=registry)
    assert "cifar-10-batches-py/test_batch" in str(info.value) and "data_batch_1" not in str(info.value)


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_format_download_goes_to_torchvisions_folder(registry, tmp_path, monkeypatch, name, folder):
    calls = []

    def fake_download(self):  # torchvision's download, without the network
        calls.append(self.raw_folder)
        if not self._check_exists():
            fake_mnist(Path(self.raw_folder), n_train=10, n_test=10)

    monkeypatch.setattr(MNIST, "download", fake_download)
    bundle = build_dataset(name, tmp_path, {"download": True}, registry)
    assert len(bundle.pretrain) == 10 and calls
    assert Path(calls[0]) == tmp_path / folder / "raw"
