"""MNIST (LeCun et al. 1998) and the datasets in its file format, read by
``torchvision.datasets.MNIST`` and its subclasses."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from functools import partial
from pathlib import Path

from torchvision.datasets import MNIST
from torchvision.datasets.utils import extract_archive

from sslcore import DatasetBundle, cache_dir
from sslcore_vision.datasets.image_bundle import image_bundle, seeded_subset
from sslcore_vision.datasets.torchvision_files import checked_root, read_torchvision

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def torchvision_root(
    name: str, cls: type[MNIST], folder: str, root: Path | None, download: bool = False
) -> Path:
    """A root from which ``cls(root)`` reads without downloading.

    ``root`` itself when ``root/<cls.__name__>/raw/`` holds the extracted files (or when
    ``download`` asks torchvision to fetch them there); otherwise the ``.gz`` files of
    ``root/<cls.__name__>/raw/`` or ``root/<folder>/`` are extracted once into
    ``cache_dir(name, <key>)``; ``root`` is never written unless ``download`` is set.
    """
    raw = Path(cls.__name__, "raw")
    root = Path(root).expanduser() if root is not None else None
    if root is not None:
        if all((root / raw / f).is_file() for f in FILES):
            return root
        for gz_folder in (root / raw, root / folder):
            if all((gz_folder / f"{f}.gz").is_file() for f in FILES):
                return extracted_root(name, gz_folder, raw)
    if download:
        return checked_root(name, root, [], download=True)
    hint = f"(torchvision's layout {raw}/<file>[.gz] under the root is read too)"
    found = checked_root(name, root, [f"{folder}/{f}.gz" for f in FILES], download=False, hint=hint)
    return extracted_root(name, found / folder, raw)


def extracted_root(name: str, gz_folder: Path, raw: Path) -> Path:
    """Extract the four ``.gz`` files of ``gz_folder`` into ``<cache>/<name>/<key>/<raw>``,
    keyed by their path, size and modification time, atomically (safe when several
    processes race)."""
    stats = [(gz_folder / f"{f}.gz").stat() for f in FILES]
    key = hashlib.sha1(repr((str(gz_folder.resolve()), [(s.st_size, s.st_mtime_ns) for s in stats])).encode())
    target = cache_dir(name, key.hexdigest()[:16])
    if not all((target / raw / f).is_file() for f in FILES):
        staging = Path(tempfile.mkdtemp(dir=target))
        for f in FILES:
            extract_archive(gz_folder / f"{f}.gz", staging)
        (target / raw).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(staging, target / raw)
        except OSError:  # another process finished first
            shutil.rmtree(staging, ignore_errors=True)
    return target


def mnist_family(
    name: str,
    cls: type[MNIST],
    folder: str,
    root: Path | None,
    train_subset: int | None,
    test_subset: int | None,
    download: bool,
) -> DatasetBundle:
    """Train and test parts of an MNIST-format dataset as an image bundle (``[1, 28, 28]`` uint8)."""
    tv_root = torchvision_root(name, cls, folder, root, download)
    parts = []
    for train, size in ((True, train_subset), (False, test_subset)):
        where = tv_root / cls.__name__ / "raw"
        data = read_torchvision(name, where, FILES, partial(cls, tv_root, train=train, download=download))
        keep = seeded_subset(len(data.data), size)
        parts.append((data.data[keep].unsqueeze(1).contiguous(), data.targets[keep]))
    return image_bundle(name, parts[0], parts[1], num_classes=len(cls.classes))


def mnist(
    root: Path | None,
    train_subset: int | None = None,
    test_subset: int | None = None,
    download: bool = False,
) -> DatasetBundle:
    """MNIST: 60k training images ``[1, 28, 28]`` uint8 for pretraining; train (60k) +
    test (10k) for evaluation, 10 classes. Reads ``root/MNIST/raw/`` (extracted or
    ``.gz``) or the original release's ``.gz`` files in ``root/mnist/``.
    ``train_subset`` / ``test_subset`` keep a fixed random subset (seed 0) of each split;
    ``download=True`` lets torchvision download the files into ``root/MNIST/raw/``.
    """
    return mnist_family("mnist", MNIST, "mnist", root, train_subset, test_subset, download)
