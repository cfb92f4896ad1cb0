from __future__ import annotations

import os
import pickle
import re
import shlex
import shutil
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from sslcore.build import build_dataset
from sslcore.errors import CorruptDataError, DataNotFoundError
from sslcore_graph.datasets.planetoid import cora, raw_file_names

CORA_FILES = raw_file_names("Cora")


def test_cora_public_split_from_the_shared_data(shared_data: Path) -> None:
    bundle = build_dataset("cora", shared_data)
    data = bundle.pretrain[0]
    assert (data.num_nodes, data.num_features) == (2708, 1433)
    assert bundle.info == {"num_features": 1433, "num_classes": 7, "num_nodes": 2708}
    assert bundle.evaluation.num_classes == 7 and bundle.batch_size == 1
    splits = bundle.evaluation.splits
    assert {k: len(v) for k, v in splits.items()} == {"train": 140, "val": 500, "test": 1000}
    assert len(set(np.concatenate(list(splits.values())))) == 1640  # disjoint
    np.testing.assert_array_equal(np.bincount(data.y[splits["train"]].numpy()), [20] * 7)
    row_sums = data.x.sum(dim=1)  # NormalizeFeatures: every non-empty row sums to 1
    torch.testing.assert_close(row_sums[row_sums > 0], torch.ones(int((row_sums > 0).sum())))


def test_evaluation_item_gives_the_graph_and_one_label_per_node(shared_data: Path) -> None:
    bundle = cora(shared_data)
    graph, y = bundle.evaluation.collate([bundle.evaluation.dataset[0]])
    assert graph is bundle.pretrain[0] and torch.equal(y, graph.y) and y.shape == (2708,)


def test_raw_files_are_read_from_a_name_raw_layout_and_the_root_is_not_written(
    shared_data: Path, tmp_path: Path
) -> None:
    (tmp_path / "Cora" / "raw").mkdir(parents=True)
    for name in CORA_FILES:
        (tmp_path / "Cora" / "raw" / name).symlink_to(shared_data / "planetoid" / "Cora" / "raw" / name)
    bundle = cora(tmp_path, normalize_features=False)
    assert bundle.pretrain[0].x.sum(dim=1).max() > 1  # raw bag-of-words counts
    assert sorted(p.name for p in (tmp_path / "Cora").iterdir()) == ["raw"]  # nothing processed in root


def test_missing_root_names_every_expected_file(tmp_path: Path) -> None:
    for root in (tmp_path, None):
        with pytest.raises(DataNotFoundError) as info:
            cora(root)
        for name in CORA_FILES:
            assert name in str(info.value)


def test_missing_file_is_named(shared_data: Path, tmp_path: Path) -> None:
    raw = tmp_path / "planetoid" / "Cora" / "raw"
    raw.mkdir(parents=True)
    for name in CORA_FILES[1:]:
        (raw / name).symlink_to(shared_data / "planetoid" / "Cora" / "raw" / name)
    with pytest.raises(DataNotFoundError, match=r"ind\.cora\.x\b"):
        cora(tmp_path)


def raw_copy(shared_data: Path, root: Path) -> Path:
    """``root/planetoid/Cora/raw`` holding copies of the genuine raw files; returns it."""
    raw = root / "planetoid" / "Cora" / "raw"
    raw.mkdir(parents=True)
    for name in CORA_FILES:
        shutil.copyfile(shared_data / "planetoid" / "Cora" / "raw" / name, raw / name)
    return raw


def cache_entries(cache: Path) -> list[str]:
    """Every file and folder under ``cache``, relative to it (hidden staging folders included)."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) if cache.exists() else []


@pytest.mark.parametrize("name", ["ind.cora.x", "ind.cora.graph", "ind.cora.test.index"])
def test_a_truncated_raw_file_is_named_and_leaves_nothing_in_the_cache(
    shared_data: Path, tmp_path: Path, isolated_cache: Path, name: str
) -> None:
    raw = raw_copy(shared_data, tmp_path / "root")
    genuine = (raw / name).read_bytes()
    (raw / name).write_bytes(genuine[: len(genuine) // 2 - 1])
    with pytest.raises(CorruptDataError) as info:
        cora(tmp_path / "root")
    message = str(info.value)
    assert str(raw / name) in message and re.search("copy (it|them) again", message)
    assert cache_entries(isolated_cache / "planetoid") == []  # no staging folder, no partial entry
    (raw / name).write_bytes(genuine)  # copied again: the next run reads it
    bundle = cora(tmp_path / "root")
    assert bundle.pretrain[0].num_nodes == 2708
    assert [p.name for p in (isolated_cache / "planetoid").iterdir() if p.name.startswith(".")] == []


class ExecPayload:
    """Unpickles by calling ``exec`` on code that writes ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


class SystemPayload(ExecPayload):
    """Unpickles by calling ``os.system`` with a shell command that writes ``marker``."""

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.mark.parametrize(
    ("payload", "global_name"), [(ExecPayload, "exec"), (SystemPayload, "system")], ids=["exec", "os.system"]
)
@pytest.mark.parametrize("name", ["ind.cora.x", "ind.cora.graph"])
def test_a_crafted_raw_file_is_refused_before_anything_unpickles_it(
    shared_data: Path, tmp_path: Path, isolated_cache: Path, payload: type, global_name: str, name: str
) -> None:
    raw = raw_copy(shared_data, tmp_path / "root")
    marker = tmp_path / "marker"
    (raw / name).write_bytes(pickle.dumps(payload(marker), protocol=2))
    with pytest.raises(CorruptDataError) as info:
        cora(tmp_path / "root")
    assert not marker.exists(), "the crafted pickle ran code"
    message = str(info.value)
    assert str(raw / name) in message and global_name in message and "refused" in message
    assert cache_entries(isolated_cache / "planetoid") == []


def test_a_pickle_of_other_harmless_types_is_refused_too(
    shared_data: Path, tmp_path: Path, isolated_cache: Path
) -> None:
    raw = raw_copy(shared_data, tmp_path / "root")
    (raw / "ind.cora.y").write_bytes(pickle.dumps(OrderedDict(a=1), protocol=2))
    with pytest.raises(CorruptDataError, match=r"collections\.OrderedDict"):
        cora(tmp_path / "root")
