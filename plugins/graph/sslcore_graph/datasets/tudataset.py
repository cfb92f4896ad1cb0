"""TU graph-classification benchmarks (Morris et al. 2020) read by
``torch_geometric.datasets.TUDataset`` from local files; downloaded only on request."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from torch_geometric.datasets import TUDataset

from sslcore.data import DatasetBundle, cache_dir, require_files
from sslcore_graph.datasets.graphs import MissingFeatures, add_missing_features, graph_bundle

REQUIRED = ("A", "graph_indicator", "graph_labels")


def find_raw_dir(name: str, root: Path | None) -> Path:
    """The folder holding ``<NAME>_A.txt``, ``<NAME>_graph_indicator.txt`` and
    ``<NAME>_graph_labels.txt``: ``root/<NAME>/raw``, ``root/<NAME>`` (the unpacked TU zip)
    or ``root/TUDataset/<NAME>/raw``; otherwise raise ``DataNotFoundError``."""
    files = [f"{name}_{part}.txt" for part in REQUIRED]
    layouts = [Path(name, "raw"), Path(name), Path("TUDataset", name, "raw")]
    if root is not None:
        for layout in layouts:
            if all((root / layout / f).is_file() for f in files):
                return root / layout
    hint = (
        f"(or under <root>/{layouts[1]}/ or <root>/{layouts[2]}/; files from "
        "https://chrsmrrs.github.io/datasets/). Pass download=True to let PyG download them."
    )
    return require_files(f"tudataset {name}", root, [str(layouts[0] / f) for f in files], hint) / layouts[0]


def writable_root(name: str, raw_dir: Path, cleaned: bool) -> Path:
    """A cache folder whose ``<NAME>/raw/`` symlinks the ``<NAME>_*.txt`` files of
    ``raw_dir`` (the data root is never written); keyed by the files' paths, sizes and
    mtimes, built in a temporary folder and renamed into place."""
    files = sorted(f.resolve() for f in raw_dir.glob(f"{name}_*.txt"))
    key = hashlib.sha1(
        "".join(f"{f}:{f.stat().st_size}:{f.stat().st_mtime_ns};" for f in files).encode()
        + str(cleaned).encode()
    ).hexdigest()[:12]
    final = cache_dir("tudataset") / f"{name}-{key}"
    if final.is_dir():
        return final
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    raw = tmp / name / ("raw" if not cleaned else "raw_cleaned")
    raw.mkdir(parents=True)
    for f in files:
        (raw / f.name).symlink_to(f)
    TUDataset(str(tmp), name, cleaned=cleaned)  # processes into tmp/<NAME>/processed
    try:
        tmp.rename(final)
    except OSError:  # another process renamed its copy first
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def tudataset(
    root: Path | None,
    name: str = "MUTAG",
    download: bool = False,
    use_node_attr: bool = False,
    cleaned: bool = False,
    missing_features: MissingFeatures = "degree",
    degree_cap: int = 1000,
) -> DatasetBundle:
    """TU dataset ``name`` (MUTAG, PROTEINS, NCI1, IMDB-BINARY, REDDIT-BINARY, ...).

    Node features: the one-hot node labels (plus the continuous node attributes with
    ``use_node_attr=True``). Graphs without any (IMDB, REDDIT, COLLAB) get one-hot degree
    features (``missing_features="degree"``: ``OneHotDegree`` up to the largest degree,
    capped at ``degree_cap``) or a constant 1 (``"constant"``), with a warning.

    ``pretrain`` = the graphs; evaluation = ``(graph, label)`` with ``splits=None``
    (stratified 10-fold cross-validation, as InfoGraph and GraphCL report).
    Files are read from the data root and never downloaded unless ``download=True`` (then
    PyG downloads them into the cache folder ``$SSLCORE_CACHE/tudataset/``).
    """
    if download and (root is None or not _has_files(name, root)):
        dataset = TUDataset(
            str(cache_dir("tudataset", "downloads")), name, use_node_attr=use_node_attr, cleaned=cleaned
        )
    else:
        raw_dir = find_raw_dir(name, root)
        dataset = TUDataset(
            str(writable_root(name, raw_dir, cleaned)), name, use_node_attr=use_node_attr, cleaned=cleaned
        )
    graphs = [dataset[i] for i in range(len(dataset))]
    labels = [int(g.y) for g in graphs]
    graphs = add_missing_features(graphs, name, missing_features, degree_cap)
    for g in graphs:
        g.x = g.x.float()
    return graph_bundle(name.lower(), graphs, labels)


def _has_files(name: str, root: Path) -> bool:
    try:
        find_raw_dir(name, root)
    except Exception:
        return False
    return True
