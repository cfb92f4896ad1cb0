"""Planetoid citation graphs (Yang et al. 2016) with the public split, read by
``torch_geometric.datasets.Planetoid`` from local raw files (never downloaded)."""

from __future__ import annotations

from pathlib import Path

from torch_geometric.datasets import Planetoid
from torch_geometric.transforms import NormalizeFeatures

from sslcore.data import DatasetBundle, cache_dir, require_files
from sslcore_graph.datasets.planetoid_files import checked_raw_files
from sslcore_graph.datasets.staging import build_entry, files_key
from sslcore_graph.datasets.transductive import DEFAULT_FANOUT, BatchNodes, Fanout, transductive_bundle


def raw_file_names(name: str) -> list[str]:
    """The eight Planetoid files, e.g. ``ind.cora.x`` ... ``ind.cora.test.index``."""
    suffixes = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
    return [f"ind.{name.lower()}.{suffix}" for suffix in suffixes]


def find_raw_dir(name: str, root: Path | None) -> Path:
    """``root/planetoid/<Name>/raw`` or ``root/<Name>/raw``, whichever holds all raw files;
    otherwise raise ``DataNotFoundError`` naming the expected files."""
    layouts = [Path("planetoid", name, "raw"), Path(name, "raw")]
    if root is not None:
        for layout in layouts:
            if all((root / layout / f).is_file() for f in raw_file_names(name)):
                return root / layout
    expected = [str(layouts[0] / f) for f in raw_file_names(name)]
    hint = f"(the files may also sit in <root>/{layouts[1]}/). sslcore never downloads data."
    return require_files(name.lower(), root, expected, hint) / layouts[0]  # raises: files missing


def writable_root(name: str, raw_dir: Path) -> Path:
    """A cache folder ``<cache>/planetoid/<Name>-<key>/`` (plugins/graph/README.md, "Data
    layout") where PyG processes copies of the raw files of ``raw_dir`` that passed
    :func:`~sslcore_graph.datasets.planetoid_files.checked_raw_files`, staged by
    :func:`~sslcore_graph.datasets.staging.build_entry`."""
    files = [raw_dir.resolve() / f for f in raw_file_names(name)]
    # the salt "checked-1": entries of older versions (raw files symlinked, not checked) are not reused
    final = cache_dir("planetoid") / f"{name}-{files_key(files, 'checked-1')}"
    if final.is_dir():
        return final
    blobs = checked_raw_files(name.lower(), [raw_dir / f.name for f in files])

    def stage(tmp: Path) -> None:
        (tmp / name / "raw").mkdir(parents=True)
        for file_name, data in blobs.items():
            (tmp / name / "raw" / file_name).write_bytes(data)

    return build_entry(
        final,
        name,
        stage,
        lambda tmp: Planetoid(str(tmp), name),  # processes the checked copies into tmp/<Name>/processed
        [raw_dir / f.name for f in files],
        name.lower(),
        "copy them again from the Planetoid release.",
    )


def planetoid(
    name: str,
    root: Path | None,
    normalize_features: bool = True,
    link_split: bool = False,
    link_seed: int = 0,
    batch_nodes: BatchNodes = None,
    fanout: Fanout = DEFAULT_FANOUT,
) -> DatasetBundle:
    """Planetoid graph ``name`` (``Cora``, ``CiteSeer``, ``PubMed``), public split.

    Features are row-normalised (``NormalizeFeatures``) as in DGI unless
    ``normalize_features=False``. The graph is undirected as stored by Planetoid.
    ``link_split=True`` holds out 5 % / 10 % of the edges (seed ``link_seed``) for the
    ``link`` protocol; pretraining then sees the training edges only. ``batch_nodes`` /
    ``fanout``: mini-batch pretraining on sampled subgraphs (see ``transductive_bundle``).
    """
    raw_dir = find_raw_dir(name, root)
    transform = NormalizeFeatures() if normalize_features else None
    data = Planetoid(str(writable_root(name, raw_dir)), name, split="public", transform=transform)[0]
    return transductive_bundle(
        name.lower(), data, link_split=link_split, link_seed=link_seed, batch_nodes=batch_nodes, fanout=fanout
    )


def cora(
    root: Path | None,
    normalize_features: bool = True,
    link_split: bool = False,
    link_seed: int = 0,
    batch_nodes: BatchNodes = None,
    fanout: Fanout = DEFAULT_FANOUT,
) -> DatasetBundle:
    """Cora: 2708 papers, 1433 bag-of-words features, 7 classes, 140/500/1000 split."""
    return planetoid("Cora", root, normalize_features, link_split, link_seed, batch_nodes, fanout)


def citeseer(
    root: Path | None,
    normalize_features: bool = True,
    link_split: bool = False,
    link_seed: int = 0,
    batch_nodes: BatchNodes = None,
    fanout: Fanout = DEFAULT_FANOUT,
) -> DatasetBundle:
    """CiteSeer: 3327 papers, 3703 features, 6 classes, 120/500/1000 split."""
    return planetoid("CiteSeer", root, normalize_features, link_split, link_seed, batch_nodes, fanout)


def pubmed(
    root: Path | None,
    normalize_features: bool = True,
    link_split: bool = False,
    link_seed: int = 0,
    batch_nodes: BatchNodes = None,
    fanout: Fanout = DEFAULT_FANOUT,
) -> DatasetBundle:
    """PubMed: 19717 papers, 500 TF-IDF features, 3 classes, 60/500/1000 split."""
    return planetoid("PubMed", root, normalize_features, link_split, link_seed, batch_nodes, fanout)
