"""What every dataset read by a torchvision class shares: the data root check (a clear
error naming the expected files and the ``download`` option) and reading errors
turned into :class:`CorruptDataError` naming the files."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from sslcore import ConfigError, SSLCoreError, require_files

T = TypeVar("T")

DOWNLOAD_HINT = (
    "Copy them there, or pass the dataset option download=True "
    "(CLI: --dataset-opt download=True) to let torchvision download them into the data root."
)


class CorruptDataError(SSLCoreError, RuntimeError):
    """Data files that are present but cannot be read (truncated, corrupt, another release)."""


def download_root(dataset: str, root: Path | None) -> Path:
    """The root torchvision downloads into when the user asked for ``download=True``."""
    if root is None:
        raise ConfigError(f"dataset {dataset!r}: download=True needs a data root to download into")
    return Path(root).expanduser()


def checked_root(
    dataset: str, root: Path | None, files: Sequence[str], download: bool, hint: str = ""
) -> Path:
    """``root`` when it holds every file of ``files`` (or when ``download`` asks
    torchvision to fetch them); otherwise :class:`~sslcore.DataNotFoundError` naming
    each missing file and the ``download`` option."""
    if download:
        return download_root(dataset, root)
    return require_files(dataset, root, files, hint=" ".join(h for h in (hint, DOWNLOAD_HINT) if h))


def read_torchvision(
    dataset: str,
    where: Path,
    files: Sequence[str],
    load: Callable[[], T],
    checksums: Mapping[str, str] | None = None,
) -> T:
    """``load()`` (a torchvision dataset constructor); its error about files it rejects
    (failed MD5 check, truncated file) becomes :class:`CorruptDataError` naming the files
    (only those failing their MD5 sum when ``checksums`` maps ``files`` to them)."""
    try:
        return load()
    except (RuntimeError, ValueError, OSError, AssertionError) as exc:  # torchvision asserts file formats
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
