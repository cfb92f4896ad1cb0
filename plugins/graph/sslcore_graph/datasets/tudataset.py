"""TU graph-classification benchmarks (Morris et al. 2020) read by
``torch_geometric.datasets.TUDataset`` from local files; downloaded only on request."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import numpy as np
from annotated_types import Ge
from torch_geometric.datasets import TUDataset

from sslcore.data import DatasetBundle, cache_dir, require_files
from sslcore.errors import CorruptDataError
from sslcore.io import remove_tree
from sslcore_graph.datasets.graphs import MissingFeatures, add_missing_features, graph_bundle
from sslcore_graph.datasets.staging import build_entry, files_key

REQUIRED = ("A", "graph_indicator", "graph_labels")
#: the files of the TU format and what their row count must equal: nodes, edges or graphs
ROWS_OF = {
    "A": "edges",
    "graph_indicator": "nodes",
    "graph_labels": "graphs",
    "graph_attributes": "graphs",
    "node_labels": "nodes",
    "node_attributes": "nodes",
    "edge_labels": "edges",
    "edge_attributes": "edges",
}
SOURCE = "https://chrsmrrs.github.io/datasets/"


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


def _corrupt(name: str, path: Path, problem: str) -> CorruptDataError:
    return CorruptDataError(
        f"dataset 'tudataset {name}': {path} {problem}. It is truncated, damaged or from another "
        f"release: copy it again from {SOURCE} (or remove the files and pass download=True)."
    )


def _disagree(name: str, first: Path, second: Path, problem: str) -> CorruptDataError:
    return CorruptDataError(
        f"dataset 'tudataset {name}': {first} and {second} disagree ({problem}). One of them is "
        f"truncated or from another release: copy them again from {SOURCE}."
    )


def _table(name: str, path: Path, integer: bool) -> tuple[int, int, np.ndarray]:
    """``(rows, columns, values)`` of a TU text file: comma-separated numbers, one row a
    line, the same number of columns on every line (blank lines ignored)."""
    data = path.read_bytes()
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        found = data[exc.start : exc.end]
        raise _corrupt(name, path, f"holds a byte that is not text on line {line} ({found!r})") from None
    lines = [line for line in text.split("\n") if line.strip()]
    tokens = text.replace(",", " ").split()
    columns = len(lines[0].replace(",", " ").split()) if lines else 0
    try:
        values = np.array(tokens, dtype=np.int64 if integer else np.float64)
    except ValueError:
        values = None
    if values is None or len(tokens) != columns * len(lines):
        number, line = _first_bad_line(text, integer, columns)
        kind = "integers" if integer else "numbers"
        raise _corrupt(name, path, f"line {number} ({line[:60]!r}) is not {columns} comma-separated {kind}")
    return len(lines), columns, values


def _first_bad_line(text: str, integer: bool, columns: int) -> tuple[int, str]:
    """``(line number, line)`` of the first line of ``text`` that is not ``columns``
    comma-separated integers (or numbers)."""
    convert = int if integer else float
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        fields = line.replace(",", " ").split()
        try:
            [convert(v) for v in fields]
        except ValueError:
            return number, line.strip()
        if fields and len(fields) != columns:
            return number, line.strip()
    return len(lines), lines[-1].strip()


def check_tu_files(name: str, raw_dir: Path) -> None:
    """Check the ``<NAME>_*.txt`` files of ``raw_dir`` before PyG reads them: numbers
    only, the same columns on every line, edges between the graph indicator's nodes,
    and each file's row count equal to the nodes, edges or graphs it describes; raise
    :class:`~sslcore.errors.CorruptDataError` naming the file (and the one it disagrees
    with) otherwise. PyG would fail with an anonymous error, or silently drop graphs."""
    paths = {part: raw_dir / f"{name}_{part}.txt" for part in ROWS_OF}
    paths = {part: path for part, path in paths.items() if path.is_file()}
    tables = {
        part: _table(name, path, integer=not part.endswith("attributes")) for part, path in paths.items()
    }
    nodes, _, indicator = tables["graph_indicator"]
    edges, columns, pairs = tables["A"]
    if edges and columns != 2:
        raise _corrupt(name, paths["A"], f"has {columns} numbers a line instead of 2 (an edge: two node ids)")
    if nodes and indicator.min() < 1:
        raise _corrupt(name, paths["graph_indicator"], "holds a graph id below 1")
    counts = {"nodes": nodes, "edges": edges, "graphs": int(indicator.max()) if nodes else 0}
    if edges and (pairs.min() < 1 or pairs.max() > nodes):
        problem = f"edges between node ids {pairs.min()}..{pairs.max()}, {nodes} nodes"
        raise _disagree(name, paths["A"], paths["graph_indicator"], problem)
    counted_by = {"nodes": "graph_indicator", "edges": "A", "graphs": "graph_indicator"}
    for part, (rows, _, _) in tables.items():
        what = ROWS_OF[part]
        if rows != counts[what]:
            problem = f"{rows} lines for {counts[what]} {what}"
            raise _disagree(name, paths[part], paths[counted_by[what]], problem)


def writable_root(name: str, raw_dir: Path, cleaned: bool) -> Path:
    """A cache folder whose ``<NAME>/raw/`` symlinks the ``<NAME>_*.txt`` files of
    ``raw_dir`` (the data root is never written), staged by
    :func:`~sslcore_graph.datasets.staging.build_entry` after :func:`check_tu_files`."""
    files = sorted(f.resolve() for f in raw_dir.glob(f"{name}_*.txt"))
    final = cache_dir("tudataset") / f"{name}-{files_key(files, str(cleaned))}"
    if final.is_dir():
        return final
    check_tu_files(name, raw_dir)

    def stage(tmp: Path) -> None:
        raw = tmp / name / ("raw" if not cleaned else "raw_cleaned")
        raw.mkdir(parents=True)
        for f in files:
            (raw / f.name).symlink_to(f)

    return build_entry(
        final,
        name,
        stage,
        lambda tmp: TUDataset(str(tmp), name, cleaned=cleaned),  # processes into tmp/<NAME>/processed
        [raw_dir / f.name for f in files],
        f"tudataset {name}",
        f"copy them again from {SOURCE}.",
    )


def downloaded_root(name: str, cleaned: bool) -> Path:
    """The root ``cache_dir("tudataset", "downloads")`` whose ``<NAME>/raw[_cleaned]`` and
    ``<NAME>/processed[_cleaned]`` PyG downloads and processes into a temporary folder, moved
    into place only when complete (PyG alone would reuse an interrupted download's files)."""
    parent = cache_dir("tudataset", "downloads")
    suffix = "_cleaned" if cleaned else ""
    folder = parent / name
    if (folder / f"processed{suffix}" / "data.pt").is_file():
        return parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=parent))
    try:
        TUDataset(str(tmp), name, cleaned=cleaned)  # downloads into tmp/<NAME>/raw, processes
        folder.mkdir(exist_ok=True)
        for sub in (f"raw{suffix}", f"processed{suffix}"):  # raw first: processed marks it complete
            if (folder / f"processed{suffix}" / "data.pt").is_file():
                break  # another process completed it meanwhile
            if (folder / sub).exists():  # an incomplete one (an older version's)
                remove_tree(folder / sub)
            try:
                os.replace(tmp / name / sub, folder / sub)
            except OSError:  # another process moved its copy first
                if not (folder / sub).is_dir():
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return parent


def tudataset(
    root: Path | None,
    name: str = "MUTAG",
    download: bool = False,
    use_node_attr: bool = False,
    cleaned: bool = False,
    missing_features: MissingFeatures = "degree",
    degree_cap: Annotated[int, Ge(0)] = 1000,
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
    try:
        raw_dir = find_raw_dir(name, root)
    except Exception:
        if not download:
            raise
        raw_dir = None  # not in the data root: let PyG download it
    folder = downloaded_root(name, cleaned) if raw_dir is None else writable_root(name, raw_dir, cleaned)
    dataset = TUDataset(str(folder), name, use_node_attr=use_node_attr, cleaned=cleaned)
    graphs = [dataset[i] for i in range(len(dataset))]
    labels = [int(g.y) for g in graphs]
    graphs = add_missing_features(graphs, name, missing_features, degree_cap)
    for g in graphs:
        g.x = g.x.float()
    return graph_bundle(name.lower(), graphs, labels)
