"""Cache entries ``<cache>/<kind>/<Name>-<key>/`` that torch_geometric processes, keyed by
their source files (:func:`files_key`) and built in a temporary sibling folder renamed into
place only when complete: a failure or a concurrent process never sees a half-built one."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from sslcore.errors import CorruptDataError


def files_key(files: Sequence[Path], salt: str = "") -> str:
    """12 hex digits of a hash of the files' paths, sizes and mtimes (and ``salt``)."""
    text = "".join(f"{f}:{f.stat().st_size}:{f.stat().st_mtime_ns};" for f in files)
    return hashlib.sha1((text + salt).encode()).hexdigest()[:12]


def build_entry(
    final: Path,
    name: str,
    stage: Callable[[Path], None],
    process: Callable[[Path], object],
    sources: Sequence[Path],
    dataset: str,
    fix: str,
) -> Path:
    """Return ``final``, building it first if missing: ``stage(tmp)`` lays out the raw
    files, ``process(tmp)`` runs torch_geometric on them. Whatever ``process`` raises
    becomes a :class:`~sslcore.errors.CorruptDataError` naming ``sources`` and ``fix``;
    the temporary folder is removed in every case."""
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        stage(tmp)
        try:
            process(tmp)
        except Exception as exc:  # noqa: BLE001 - whatever PyG raises on files it cannot use
            listed = "\n  ".join(str(f) for f in sources)
            raise CorruptDataError(
                f"dataset {dataset!r}: torch_geometric could not process\n  {listed}\n"
                f"({type(exc).__name__}: {exc}). One of them may be truncated or from another "
                f"release: {fix}"
            ) from exc
        try:
            tmp.rename(final)
        except OSError:  # another process renamed its copy first
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
