"""MNIST (LeCun et al. 1998) and the datasets in its file format, read by
``torchvision.datasets.MNIST`` and its subclasses."""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import shutil
import tempfile
import zlib
from functools import partial
from pathlib import Path

from torchvision.datasets import MNIST

from sslcore import DatasetBundle, cache_dir
from sslcore.errors import CorruptDataError
from sslcore.io import remove_tree
from sslcore_vision.datasets.image_bundle import image_bundle, seeded_subset
from sslcore_vision.datasets.torchvision_files import checked_root, read_torchvision

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


#: IDX element type code -> bytes per element (LeCun's format description)
IDX_TYPES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


def torchvision_root(
    name: str, cls: type[MNIST], folder: str, root: Path | None, download: bool = False
) -> tuple[Path, Path | None]:
    """A root from which ``cls(root)`` reads without downloading, and the folder of the
    ``.gz`` files it was extracted from (``None`` when it is the user's own root).

    ``root`` itself when ``root/<cls.__name__>/raw/`` holds the extracted files (or when
    ``download`` asks torchvision to fetch them there); otherwise the ``.gz`` files of
    ``root/<cls.__name__>/raw/`` or ``root/<folder>/`` are extracted once into
    ``cache_dir(name, <key>)``; ``root`` is never written unless ``download`` is set.
    """
    raw = Path(cls.__name__, "raw")
    root = Path(root).expanduser() if root is not None else None
    if root is not None:
        if all((root / raw / f).is_file() for f in FILES):
            return root, None
        for gz_folder in (root / raw, root / folder):
            if all((gz_folder / f"{f}.gz").is_file() for f in FILES):
                return extracted_root(name, gz_folder, raw), gz_folder
    if download:
        return checked_root(name, root, [], download=True), None
    hint = f"(torchvision's layout {raw}/<file>[.gz] under the root is read too)"
    found = checked_root(name, root, [f"{folder}/{f}.gz" for f in FILES], download=False, hint=hint)
    return extracted_root(name, found / folder, raw), found / folder


def extracted_root(name: str, gz_folder: Path, raw: Path) -> Path:
    """Extract the four ``.gz`` files of ``gz_folder`` into ``<cache>/<name>/<key>/<raw>``,
    keyed by their path, size and modification time, atomically (safe when several
    processes race).

    The files are decompressed and checked (IDX header and length) in a staging folder
    beside the entry, which is renamed into place only when all four are whole; a
    truncated or damaged ``.gz`` raises :class:`~sslcore.errors.CorruptDataError` naming
    it, and leaves neither the staging folder nor a cache entry behind."""
    stats = [(gz_folder / f"{f}.gz").stat() for f in FILES]
    key = hashlib.sha1(repr((str(gz_folder.resolve()), [(s.st_size, s.st_mtime_ns) for s in stats])).encode())
    parent = cache_dir(name)
    target = parent / key.hexdigest()[:16]
    if all((target / raw / f).is_file() for f in FILES):
        return target
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=parent))
    try:
        (staging / raw).mkdir(parents=True)
        for f in FILES:
            decompress_idx(name, gz_folder / f"{f}.gz", staging / raw / f)
        if target.is_dir():  # an incomplete entry (an older version's)
            remove_tree(target)
        try:
            os.replace(staging, target)
        except OSError:  # another process finished first
            if not all((target / raw / f).is_file() for f in FILES):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def decompress_idx(dataset: str, source: Path, dest: Path) -> None:
    """Decompress the gzip file ``source`` into ``dest`` and check that it is a whole IDX
    file; otherwise raise :class:`~sslcore.errors.CorruptDataError` naming ``source``."""
    try:
        with gzip.open(source, "rb") as fin, open(dest, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CorruptDataError(
            f"dataset {dataset!r}: {source} could not be decompressed ({type(exc).__name__}: {exc}). "
            "The file is truncated or damaged: copy it again from the original release "
            "(or remove it and pass download=True to let torchvision download it)."
        ) from exc
    problem = idx_problem(dest)
    if problem:
        raise CorruptDataError(
            f"dataset {dataset!r}: {source} decompresses to {problem}. The file is truncated, damaged "
            "or not from this dataset: copy it again from the original release "
            "(or remove it and pass download=True to let torchvision download it)."
        )


def idx_problem(path: Path) -> str:
    """Why ``path`` is not a whole IDX file (magic ``0 0 <type> <ndim>``, ``ndim``
    big-endian sizes, then exactly their product of elements), or ``""``."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        magic = fh.read(4)
        if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in IDX_TYPES or not magic[3]:
            return f"data without an IDX header ({magic!r})"
        header = fh.read(4 * magic[3])
    if len(header) < 4 * magic[3]:
        return f"an IDX file cut short in its header ({size} bytes)"
    dims = [int.from_bytes(header[i : i + 4], "big") for i in range(0, len(header), 4)]
    expected = 4 + len(header) + math.prod(dims) * IDX_TYPES[magic[2]]
    if size != expected:
        return f"an IDX file of shape {dims} with {size} bytes instead of {expected}"
    return ""


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
    tv_root, gz_folder = torchvision_root(name, cls, folder, root, download)
    where = tv_root / cls.__name__ / "raw"
    # an extracted cache: name the user's .gz files, not the cache's copies
    sources = [gz_folder / f"{f}.gz" for f in FILES] if gz_folder is not None else None
    parts = []
    for train, size in ((True, train_subset), (False, test_subset)):
        load = partial(cls, tv_root, train=train, download=download)
        data = read_torchvision(name, where, FILES, load, sources=sources)
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
