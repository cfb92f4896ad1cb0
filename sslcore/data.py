"""What a dataset factory returns: pretraining samples, labelled evaluation data and
the facts encoders and tasks need to be built for it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset, default_collate

from sslcore.errors import DataNotFoundError


@dataclass
class EvalSet:
    """Labelled data for the evaluation protocols.

    ``dataset[i]`` is ``(inputs, label)``; ``collate`` stacks a list of them into
    ``(batched_inputs, labels)``; ``task.embed(batched_inputs)`` must return one row per
    label. Rows of all batches, in order, are indexed by ``splits`` (``"train"``,
    ``"val"``, ``"test"`` -> integer index arrays). ``splits=None`` means the data has no
    fixed split and protocols use stratified k-fold cross-validation.

    A transductive graph is one item: ``(graph, node_labels)``, embedded to one row per
    node, with the public split's node indices in ``splits``.
    """

    dataset: Dataset | Sequence[Any]
    splits: dict[str, np.ndarray] | None
    collate: Callable[[list[Any]], Any] = default_collate
    batch_size: int = 256
    num_classes: int | None = None


@dataclass
class DatasetBundle:
    """Everything a registered dataset provides.

    - ``pretrain``: unlabelled raw samples; the task's ``collate`` turns a list of them
      into a batch (views, masks, corruptions).
    - ``evaluation``: labelled data for linear probe / kNN (``None`` if unlabelled).
    - ``info``: facts for building encoders and tasks. Conventional keys: vision
      ``in_channels``, ``image_size``, ``mean``, ``std``; text ``tokenizer``,
      ``max_length``; graph ``num_features``. Plus ``num_classes`` where known.
      ``build_task`` adds ``num_pretrain_samples`` (``len(pretrain)``) itself.
    - ``batch_size``: set when the dataset dictates it (1 for full-graph training).
    """

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
    import os

    base = Path(os.environ.get("SSLCORE_CACHE", Path.home() / ".cache" / "sslcore"))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
