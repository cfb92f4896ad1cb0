"""Checked reading of the Planetoid raw files before PyG sees them.

PyG's ``Planetoid`` reads seven of the eight raw files with :func:`pickle.load`, which
runs whatever code a crafted file asks for. Here each file is read once into memory and
unpickled by :class:`PlanetoidUnpickler`, which resolves only the globals the genuine
files of the Planetoid release use (numpy arrays, ``scipy.sparse`` CSR matrices, a
``defaultdict`` of lists); any other global is refused, naming the file and the global,
before any code of the file runs. The files' contents are then checked (types, shapes,
the CSR structure, the test index) and the exact bytes that passed are what PyG
processes (:func:`checked_raw_files`), so a file swapped after the check is never read.

A truncated or damaged file (a short pickle, a cut test index) raises
:class:`~sslcore.errors.CorruptDataError` naming it, instead of PyG's ``EOFError`` /
``UnpicklingError`` or, for the text index, silently fewer test nodes.
"""

from __future__ import annotations

import collections
import io
import pickle
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from sslcore.errors import CorruptDataError

FIX = (
    "copy {it} again from the Planetoid release (the files torch_geometric's Planetoid "
    "downloads, github.com/kimiyoung/planetoid)"
)
MATRICES = ("x", "tx", "allx")
LABELS = ("y", "ty", "ally")


@cache
def allowed_globals() -> Mapping[tuple[str, str], Any]:
    """``(module, name)`` -> object for every global the genuine files reference, under
    the module names numpy / scipy pickles have used (the release was written by Python 2
    with numpy 1 and scipy's ``scipy.sparse.csr``); nothing else resolves."""
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1
        from numpy.core.multiarray import _reconstruct
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("collections", "defaultdict"): collections.defaultdict,
        ("__builtin__", "list"): list,  # Python 2's name, mapped by fix_imports
        ("builtins", "list"): list,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(module, "_reconstruct")] = _reconstruct
    for module in ("scipy.sparse.csr", "scipy.sparse._csr", "scipy.sparse"):
        table[(module, "csr_matrix")] = sparse.csr_matrix
    return table


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a global that is not in :func:`allowed_globals`."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name
        super().__init__(f"global {module}.{name} is not allowed")


class PlanetoidUnpickler(pickle.Unpickler):
    """An unpickler (latin-1 strings, as PyG reads the Python 2 files) that resolves only
    :func:`allowed_globals` and has no persistent ids."""

    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data), encoding="latin1")

    def find_class(self, module: str, name: str) -> Any:
        try:
            return allowed_globals()[(module, name)]
        except KeyError:
            raise RefusedGlobal(module, name) from None


def unpickle(dataset: str, path: Path, data: bytes) -> Any:
    """``data`` (the bytes of ``path``) unpickled by :class:`PlanetoidUnpickler`; a refused
    global or an unreadable pickle raises :class:`CorruptDataError` naming ``path``."""
    try:
        return PlanetoidUnpickler(data).load()
    except RefusedGlobal as exc:
        raise CorruptDataError(
            f"dataset {dataset!r}: refused to read {path}: it is a pickle that asks for the global "
            f"{exc.module}.{exc.name}, which genuine Planetoid files never use (they hold numpy arrays, "
            "scipy.sparse CSR matrices and a dict of lists only), so nothing in it was run. "
            f"Such a file can run arbitrary code when unpickled: delete it and {FIX.format(it='it')}."
        ) from None
    except Exception as exc:  # noqa: BLE001 - EOFError, UnpicklingError, ValueError, ... of a bad file
        raise _corrupt(dataset, path, f"{type(exc).__name__}: {exc}") from exc


def _corrupt(dataset: str, path: Path, problem: str) -> CorruptDataError:
    return CorruptDataError(
        f"dataset {dataset!r}: {path} is not a readable Planetoid file ({problem}). "
        f"It is truncated, damaged or from another release: {FIX.format(it='it')}."
    )


def _matrix(dataset: str, path: Path, value: Any) -> tuple[int, int]:
    """Shape of a feature matrix (CSR or a 2-D numeric array), its structure checked."""
    if isinstance(value, sparse.csr_matrix):
        try:
            value.check_format(full_check=True)
        except Exception as exc:  # noqa: BLE001
            raise _corrupt(dataset, path, f"an invalid CSR matrix: {exc}") from exc
        if not np.issubdtype(value.dtype, np.number):
            raise _corrupt(dataset, path, f"a CSR matrix of {value.dtype} values")
        return value.shape
    return _array(dataset, path, value, "a feature matrix")


def _array(dataset: str, path: Path, value: Any, what: str) -> tuple[int, int]:
    if not isinstance(value, np.ndarray) or value.ndim != 2 or not np.issubdtype(value.dtype, np.number):
        kind = f"{value.dtype} array of shape {value.shape}" if isinstance(value, np.ndarray) else type(value)
        raise _corrupt(dataset, path, f"{what} expected, found a {kind}")
    return value.shape


def _graph(dataset: str, path: Path, value: Any) -> None:
    if not isinstance(value, dict):
        raise _corrupt(dataset, path, f"a dict of adjacency lists expected, found a {type(value).__name__}")
    for node, neighbours in value.items():
        if not isinstance(node, int) or not isinstance(neighbours, list):
            raise _corrupt(dataset, path, f"adjacency entry {node!r}: {type(neighbours).__name__}")
        if not all(isinstance(v, int) for v in neighbours):
            raise _corrupt(dataset, path, f"adjacency list of node {node} holds a non-integer")


def _test_index(dataset: str, path: Path, data: bytes) -> int:
    """Number of entries of the text test index (one integer a line)."""
    try:
        lines = data.decode("ascii").split()
        values = [int(v) for v in lines]
    except (UnicodeDecodeError, ValueError) as exc:
        raise _corrupt(dataset, path, f"one integer a line expected ({exc})") from exc
    if not values or min(values) < 0:
        raise _corrupt(dataset, path, "no node index" if not values else "a negative node index")
    return len(values)


def checked_raw_files(dataset: str, paths: Sequence[Path]) -> dict[str, bytes]:
    """The bytes of the eight raw files ``paths`` (``ind.<name>.<suffix>`` in PyG's order
    x, tx, allx, y, ty, ally, graph, test.index), each read once and checked: safe to
    unpickle (:class:`PlanetoidUnpickler`), of the expected types and consistent shapes.
    Raises :class:`CorruptDataError` naming the file at fault."""
    blobs = {p.name: p.read_bytes() for p in paths}
    by_suffix = {p.name.split(".", 2)[2]: p for p in paths}
    shapes: dict[str, tuple[int, int]] = {}
    checks: dict[str, Callable[[Path, Any], Any]] = {
        **{s: lambda p, v: _matrix(dataset, p, v) for s in MATRICES},
        **{s: lambda p, v: _array(dataset, p, v, "a label matrix") for s in LABELS},
        "graph": lambda p, v: _graph(dataset, p, v),
    }
    for suffix, check in checks.items():
        path = by_suffix[suffix]
        shape = check(path, unpickle(dataset, path, blobs[path.name]))
        if shape is not None:
            shapes[suffix] = shape
    index = by_suffix["test.index"]
    count = _test_index(dataset, index, blobs[index.name])

    def agree(a: str, b: str, what: str, first: int, second: int) -> None:
        if first != second:
            raise CorruptDataError(
                f"dataset {dataset!r}: {by_suffix[a]} and {by_suffix[b]} disagree ({what}: {first} vs "
                f"{second}). One of them is truncated or from another release: "
                f"{FIX.format(it='them')}."
            )

    for features, labels in zip(MATRICES, LABELS):
        agree(features, labels, "rows", shapes[features][0], shapes[labels][0])
    agree("tx", "test.index", "test nodes", shapes["tx"][0], count)
    for other in ("tx", "allx"):
        agree("x", other, "feature columns", shapes["x"][1], shapes[other][1])
    for other in ("ty", "ally"):
        agree("y", other, "label columns", shapes["y"][1], shapes[other][1])
    return blobs
