"""What a dataset factory returns: pretraining samples, labelled evaluation data and
the facts encoders and tasks need to be built for it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset, default_collate

from sslcore.errors import DataNotFoundError


@dataclass
class EvalSet:
    """Labelled ``(inputs, label)`` items for the evaluation protocols, with ``splits``
    (``"train"``, ``"val"``, ``"test"`` -> row indices, or None: k-fold); see
    ``docs/plugins.md``, "Datasets: DatasetBundle and EvalSet"."""

    dataset: Dataset | Sequence[Any]
    splits: dict[str, np.ndarray] | None
    collate: Callable[[list[Any]], Any] = default_collate
    batch_size: int = 256
    num_classes: int | None = None


@dataclass
class DatasetBundle:
    """Everything a registered dataset provides: unlabelled ``pretrain`` samples, labelled
    ``evaluation`` data (or None), ``info`` facts for building encoders and tasks, and a
    ``batch_size`` when the dataset dictates it; see ``docs/plugins.md``, "Datasets"."""

    name: str
    domain: str
    sample: str
    pretrain: Dataset | Sequence[Any]
    evaluation: EvalSet | None = None
    info: dict[str, Any] = field(default_factory=dict)
    batch_size: int | None = None

    def __post_init__(self) -> None:
        if len(self.pretrain) == 0:  # type: ignore[arg-type]
            raise ValueError(f"dataset {self.name!r} has no pretraining samples (empty data)")


class IndexedDataset(Dataset[tuple[int, Any]]):
    """``dataset[i] -> (i, dataset[i])``: what the trainer feeds a task that sets
    ``needs_indices`` (a memory bank keyed by sample). A class, so DataLoader workers
    started with ``spawn`` can pickle it."""

    def __init__(self, dataset: Dataset | Sequence[Any]):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[int, Any]:
        return index, self.dataset[index]


def require_files(dataset: str, root: str | Path | None, relative: Iterable[str], hint: str = "") -> Path:
    """Return ``root`` as a Path if every ``relative`` file exists under it, else raise
    :class:`DataNotFoundError` naming each expected file and where it was looked for."""
    relative = list(relative)
    if root is None:
        raise DataNotFoundError(dataset, "<no --data-root given>", relative, hint)
    root = Path(root).expanduser()
    missing = [r for r in relative if not (root / r).exists()]
    if missing:
        raise DataNotFoundError(dataset, root.resolve(), [root / m for m in missing], hint)
    return root


def info_get(info: Mapping[str, Any], key: str, dataset_hint: str = "") -> Any:
    """``info[key]`` with an error that says which dataset fact is missing."""
    if key not in info:
        raise KeyError(f"dataset info lacks {key!r}{dataset_hint}; keys present: {sorted(info)}")
    return info[key]


def cache_dir(*parts: str) -> Path:
    """A writable cache folder (``$SSLCORE_CACHE``, default ``~/.cache/sslcore``) for
    derived files: extracted archives, trained tokenizers, processed graphs."""
    base = Path(os.environ.get("SSLCORE_CACHE", Path.home() / ".cache" / "sslcore"))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
