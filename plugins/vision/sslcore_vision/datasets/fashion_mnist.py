"""Fashion-MNIST (Xiao et al. 2017) read by ``torchvision.datasets.FashionMNIST``."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from torchvision.datasets import FashionMNIST
from torchvision.datasets.utils import extract_archive

from sslcore import DatasetBundle, cache_dir, require_files
from sslcore_vision.datasets.image_bundle import image_bundle, seeded_subset

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FOLDER = "fashion-mnist"  # the original release's four .gz files, as in the shared data folder
TORCHVISION_RAW = Path("FashionMNIST", "raw")  # where torchvision looks under its root


def torchvision_root(root: Path | None) -> Path:
    """A root from which ``FashionMNIST(root)`` reads without downloading.

    ``root`` itself when ``root/FashionMNIST/raw/`` holds the extracted files; otherwise
    the ``.gz`` files of ``root/FashionMNIST/raw/`` or ``root/fashion-mnist/`` are
    extracted once into ``cache_dir("fashion-mnist", <key>)``; ``root`` is never written.
    """
    if root is not None:
        if all((root / TORCHVISION_RAW / f).is_file() for f in FILES):
            return root
        if all((root / TORCHVISION_RAW / f"{f}.gz").is_file() for f in FILES):
            return extracted_root(root / TORCHVISION_RAW)
    hint = f"(torchvision's layout {TORCHVISION_RAW}/<file>[.gz] under the root is read too)"
    found = require_files("fashion-mnist", root, [f"{FOLDER}/{f}.gz" for f in FILES], hint=hint)
    return extracted_root(found / FOLDER)


def extracted_root(gz_folder: Path) -> Path:
    """Extract the four ``.gz`` files of ``gz_folder`` into a cache folder keyed by their
    path, size and modification time, atomically (safe when several processes race)."""
    stats = [(gz_folder / f"{f}.gz").stat() for f in FILES]
    key = hashlib.sha1(repr((str(gz_folder.resolve()), [(s.st_size, s.st_mtime_ns) for s in stats])).encode())
    target = cache_dir("fashion-mnist", key.hexdigest()[:16])
    raw = target / TORCHVISION_RAW
    if not all((raw / f).is_file() for f in FILES):
        staging = Path(tempfile.mkdtemp(dir=target))
        for f in FILES:
            extract_archive(gz_folder / f"{f}.gz", staging)
        raw.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(staging, raw)
        except OSError:  # another process finished first
            shutil.rmtree(staging, ignore_errors=True)
    return target


def fashion_mnist(
    root: Path | None, train_subset: int | None = None, test_subset: int | None = None
) -> DatasetBundle:
    """60k training images ``[1, 28, 28]`` uint8 for pretraining; train (60k) + test (10k)
    for evaluation, 10 classes. ``train_subset`` / ``test_subset`` keep a fixed random
    subset (seed 0) of each split for quick runs (the pretraining set follows the train subset).
    """
    tv_root = torchvision_root(root)
    parts = []
    for train, size in ((True, train_subset), (False, test_subset)):
        data = FashionMNIST(tv_root, train=train, download=False)
        keep = seeded_subset(len(data.data), size)
        parts.append((data.data[keep].unsqueeze(1).contiguous(), data.targets[keep]))
    return image_bundle("fashion-mnist", parts[0], parts[1], num_classes=len(FashionMNIST.classes))
