"""What every dataset read by a torchvision class shares: the data root check (a clear
error naming the expected files and the ``download`` option) and reading errors
turned into :class:`CorruptDataError` naming the files."""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from sslcore import ConfigError, require_files
from sslcore.errors import CorruptDataError

__all__ = [
    "DOWNLOAD_HINT",
    "READ_ERRORS",
    "CorruptDataError",
    "checked_root",
    "read_torchvision",
]

T = TypeVar("T")

DOWNLOAD_HINT = (
    "Copy them there, or pass the dataset option download=True "
    "(CLI: --dataset-opt download=True) to let torchvision download them into the data root."
)


#: what torchvision's readers raise on a file they cannot read: format asserts, failed
#: MD5 checks, short reads, truncated or damaged pickles (CIFAR) and compressed streams
READ_ERRORS = (
    RuntimeError,
    ValueError,
    OSError,
    AssertionError,
    EOFError,
    pickle.UnpicklingError,
    zlib.error,
)


def checked_root(
    dataset: str, root: Path | None, files: Sequence[str], download: bool, hint: str = ""
) -> Path:
    """``root`` when it holds every file of ``files`` (or when ``download`` asks
    torchvision to fetch them); otherwise :class:`~sslcore.DataNotFoundError` naming
    each missing file and the ``download`` option."""
    if download:  # the root torchvision downloads into
        if root is None:
            raise ConfigError(f"dataset {dataset!r}: download=True needs a data root to download into")
        return Path(root).expanduser()
    return require_files(dataset, root, files, hint=" ".join(h for h in (hint, DOWNLOAD_HINT) if h))


def read_torchvision(
    dataset: str,
    where: Path,
    files: Sequence[str],
    load: Callable[[], T],
    checksums: Mapping[str, str] | None = None,
    sources: Sequence[Path] | None = None,
) -> T:
    """``load()`` (a torchvision dataset constructor); its error about files it rejects
    (failed MD5 check, truncated file or pickle) becomes :class:`CorruptDataError` naming
    the files (only those failing their MD5 sum when ``checksums`` maps ``files`` to
    them). ``sources``: the user's files these were made from (the ``.gz`` files an
    extracted cache holds the contents of); they are named instead."""
    try:
        return load()
    except READ_ERRORS as exc:  # torchvision asserts file formats
        if sources:
            listed = "\n  ".join(str(s) for s in sources)
            raise CorruptDataError(
                f"dataset {dataset!r}: torchvision could not read the data of\n  {listed}\n"
                f"(extracted into {where}; {type(exc).__name__}: {exc}). One of them may be truncated "
                "or from another release; copy them again, or remove them and pass download=True."
            ) from exc
        named = list(files)
        if checksums:
            from torchvision.datasets.utils import check_integrity

            failing = [f for f in named if not check_integrity(str(Path(where) / f), checksums.get(f))]
            named = failing or named
        listed = "\n  ".join(str(Path(where) / f) for f in named)
        raise CorruptDataError(
            f"dataset {dataset!r}: torchvision could not read the files under {where}:\n  {listed}\n"
            f"({type(exc).__name__}: {exc}). They may be truncated or from another release "
            "(torchvision checks their MD5 sums); copy them again, or remove them and pass download=True."
        ) from exc
