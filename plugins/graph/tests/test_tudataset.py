from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.datasets import KarateClub, TUDataset

from sslcore import DataNotFoundError
from sslcore.build import build_dataset
from sslcore.errors import CorruptDataError
from sslcore.evaluation import linear_probe
from sslcore_graph.datasets.graphs import collate_graph_labels, collate_graphs, from_pyg


def write_tu(
    folder: Path, name: str, node_labels: bool = True, num_graphs: int = 20
) -> list[tuple[int, int]]:
    """TU-format files for ``num_graphs`` graphs: even graphs are cycles (label 0), odd
    ones stars (label 1), with ``4 + i % 4`` nodes. Returns ``(num_nodes, label)`` per graph."""
    folder.mkdir(parents=True, exist_ok=True)
    edges, indicator, labels, node_labels_rows, graphs = [], [], [], [], []
    offset = 0
    for i in range(num_graphs):
        n, label = 4 + i % 4, i % 2
        if label == 0:
            pairs = [(k, (k + 1) % n) for k in range(n)]
        else:
            pairs = [(0, k) for k in range(1, n)]
        for a, b in pairs:  # both directions, 1-based global ids
            edges += [(offset + a + 1, offset + b + 1), (offset + b + 1, offset + a + 1)]
        indicator += [i + 1] * n
        labels.append(label)
        node_labels_rows += [(k % 3) for k in range(n)]
        graphs.append((n, label))
        offset += n
    (folder / f"{name}_A.txt").write_text("".join(f"{a}, {b}\n" for a, b in edges))
    (folder / f"{name}_graph_indicator.txt").write_text("".join(f"{g}\n" for g in indicator))
    (folder / f"{name}_graph_labels.txt").write_text("".join(f"{y}\n" for y in labels))
    if node_labels:
        (folder / f"{name}_node_labels.txt").write_text("".join(f"{v}\n" for v in node_labels_rows))
    return graphs


def test_loader_reads_counts_labels_and_has_no_fixed_split(tmp_path: Path) -> None:
    expected = write_tu(tmp_path / "FAKE" / "raw", "FAKE")
    bundle = build_dataset("tudataset", tmp_path, {"name": "FAKE"})
    assert bundle.sample == "graph" and len(bundle.pretrain) == 20
    assert [g.num_nodes for g in bundle.pretrain] == [n for n, _ in expected]
    assert bundle.pretrain[0].edge_index.shape[1] == 2 * expected[0][0]  # a cycle: n edges, both ways
    assert bundle.info["num_features"] == 3  # one-hot node labels 0..2
    assert bundle.info["num_classes"] == 2
    ev = bundle.evaluation
    assert ev is not None and ev.splits is None  # stratified 10-fold CV by the probes
    assert [y for _, y in ev.dataset] == [y for _, y in expected]
    batch, y = ev.collate(list(ev.dataset[:5]))
    assert isinstance(batch, Batch) and batch.num_graphs == 5 and y.tolist() == [0, 1, 0, 1, 0]
    assert not any((tmp_path / "FAKE").glob("processed"))  # the data root is never written


def test_unpacked_zip_layout_and_probe_with_cross_validation(tmp_path: Path) -> None:
    write_tu(tmp_path / "FAKE2", "FAKE2")  # files directly under <root>/<NAME>/
    bundle = build_dataset("tudataset", tmp_path, {"name": "FAKE2"})
    # number of nodes and edges tell cycles from stars apart only through structure;
    # a linear probe with 10-fold CV on [nodes, max degree] separates them
    X = np.array([[g.num_nodes, int(torch.bincount(g.edge_index[0]).max())] for g in bundle.pretrain], float)
    y = np.array([label for _, label in bundle.evaluation.dataset])
    result = linear_probe(X, y, bundle.evaluation.splits)
    assert result.test_accuracy == 1.0 and result.num_test == 20


def test_missing_files_raise_and_name_the_expected_files(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="FAKE_graph_indicator.txt"):
        build_dataset("tudataset", tmp_path, {"name": "FAKE"})


@pytest.mark.parametrize(("fallback", "width"), [("degree", 7), ("constant", 1)])
def test_graphs_without_node_features_get_the_fallback_with_a_warning(
    tmp_path: Path, fallback: str, width: int
) -> None:
    write_tu(tmp_path / "NOFEAT" / "raw", "NOFEAT", node_labels=False)
    with pytest.warns(UserWarning, match="no node features"):
        bundle = build_dataset("tudataset", tmp_path, {"name": "NOFEAT", "missing_features": fallback})
    assert bundle.info["num_features"] == width  # one-hot degree 0..6 (7-node stars)
    star = bundle.pretrain[1]  # 5-node star: centre degree 4, leaves degree 1
    if fallback == "degree":
        assert star.x.argmax(1).tolist() == [4, 1, 1, 1, 1]
    else:
        assert torch.equal(star.x, torch.ones(5, 1))


def test_degree_fallback_caps_large_degrees(tmp_path: Path) -> None:
    write_tu(tmp_path / "NOFEAT" / "raw", "NOFEAT", node_labels=False)
    with pytest.warns(UserWarning):
        bundle = build_dataset("tudataset", tmp_path, {"name": "NOFEAT", "degree_cap": 2})
    assert bundle.info["num_features"] == 3
    assert bundle.pretrain[1].x.argmax(1).tolist() == [2, 1, 1, 1, 1]


def test_from_pyg_wraps_a_graph_list_and_a_single_graph() -> None:
    graphs = [
        Data(x=torch.randn(3, 2), edge_index=torch.tensor([[0, 1], [1, 0]]), y=torch.tensor([i % 2]))
        for i in range(6)
    ]
    bundle = from_pyg(graphs, name="mine")
    assert bundle.sample == "graph" and bundle.evaluation.splits is None
    assert bundle.info == {"num_features": 2, "num_graphs": 6, "num_classes": 2}
    node_level = from_pyg(KarateClub(), name="club")
    assert node_level.sample == "node" and node_level.batch_size == 1
    splits = node_level.evaluation.splits
    assert len(np.intersect1d(splits["train"], splits["test"])) == 0
    assert len(splits["train"]) + len(splits["val"]) + len(splits["test"]) == 34


def test_from_pyg_without_labels_or_features() -> None:
    g = Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3)
    with pytest.warns(UserWarning, match="no node features"):
        bundle = from_pyg(g)
    assert bundle.evaluation is None and bundle.pretrain[0].x.shape == (3, 3)


def test_graph_collates() -> None:
    graphs = [Data(x=torch.ones(n, 2), edge_index=torch.zeros(2, 0, dtype=torch.long)) for n in (2, 3)]
    batch = collate_graphs(graphs)
    assert batch.batch.tolist() == [0, 0, 1, 1, 1]
    batch, y = collate_graph_labels([(graphs[0], 1), (graphs[1], 0)])
    assert batch.num_graphs == 2 and y.tolist() == [1, 0]


def cache_entries(cache: Path) -> list[str]:
    """Every file and folder under ``cache``, relative to it (hidden staging folders included)."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) if cache.exists() else []


def cut(fraction: float):
    return lambda data: data[: int(len(data) * fraction)]


@pytest.mark.parametrize(
    ("part", "damage"),
    [
        ("A", lambda data: data[:40] + b"\x00\xff garbage\n"),
        ("graph_indicator", cut(0.5)),
        ("graph_labels", cut(0.5)),
        ("node_labels", cut(0.5)),
    ],
    ids=["A-garbage", "indicator-cut", "labels-cut", "node-labels-cut"],
)
def test_a_damaged_tu_file_is_named_and_leaves_nothing_in_the_cache(
    tmp_path: Path, isolated_cache: Path, part: str, damage
) -> None:
    raw = tmp_path / "root" / "FAKE" / "raw"
    write_tu(raw, "FAKE")
    bad = raw / f"FAKE_{part}.txt"
    genuine = bad.read_bytes()
    bad.write_bytes(damage(genuine))
    with pytest.raises(CorruptDataError) as info:
        build_dataset("tudataset", tmp_path / "root", {"name": "FAKE"})
    assert str(bad) in str(info.value) and "copy" in str(info.value)
    assert cache_entries(isolated_cache / "tudataset") == []  # no staging folder, no entry of bad data
    bad.write_bytes(genuine)  # copied again: the next run reads it
    assert len(build_dataset("tudataset", tmp_path / "root", {"name": "FAKE"}).pretrain) == 20


def test_an_interrupted_download_leaves_nothing_and_the_next_download_works(
    tmp_path: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def fake_download(self) -> None:  # PyG's download, without the network
        calls.append(self.raw_dir)
        write_tu(Path(self.raw_dir), self.name)
        if len(calls) == 1:  # the connection drops after two files
            (Path(self.raw_dir) / f"{self.name}_graph_labels.txt").unlink()
            raise OSError("connection reset by peer")

    monkeypatch.setattr(TUDataset, "download", fake_download)
    with pytest.raises(OSError, match="connection reset"):
        build_dataset("tudataset", None, {"name": "FAKE", "download": True})
    assert cache_entries(isolated_cache / "tudataset") in ([], ["downloads"])
    bundle = build_dataset("tudataset", None, {"name": "FAKE", "download": True})
    assert len(calls) == 2 and len(bundle.pretrain) == 20
    assert [y for _, y in bundle.evaluation.dataset][:4] == [0, 1, 0, 1]
    build_dataset("tudataset", None, {"name": "FAKE", "download": True})
    assert len(calls) == 2  # the finished download is reused
    assert not [p for p in (isolated_cache / "tudataset" / "downloads").iterdir() if p.name.startswith(".")]
