"""What graph structure alone tells about Cora's labels: local (role) features against
global (position) features, no node attributes.

Feature sets, each probed linearly (standardised features, logistic regression, C chosen
from 0.001 ... 100 on the 500 validation nodes of the public split, accuracy on the 1000
test nodes):

- ``local``: log degree, log 2-hop neighbourhood size, clustering coefficient, log
  triangle count, log mean neighbour degree, core number (6 features);
- ``degree_onehot``: one-hot degree;
- ``eigvecs_<k>`` for k = 16, 64, 128: the k eigenvectors of largest eigenvalue of the
  symmetrically normalised adjacency D^-1/2 A D^-1/2 of the whole (undirected) graph,
  i.e. the smallest of its normalised Laplacian (global position).

It also reports the number of connected components and the size of the largest.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/graph_structure_baselines.py \\
        [--data-root DIR] [--output FILE]

Writes ``benchmarks/results/graph_structure_baselines.json`` and prints one line per feature set.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
import torch
from _common import provenance
from scipy.sparse.linalg import eigsh
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sslcore.build import build_dataset
from sslcore.io import atomic_write_json

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "graph_structure_baselines.json"
DATA_ROOT = HERE.parent.parent / "shared" / "data"  # the shared data folder beside the repository
CS = (0.001, 0.01, 0.1, 1, 10, 100)
EIGVEC_COUNTS = (16, 64, 128)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, default=DATA_ROOT, help="folder holding planetoid/Cora/raw/")
    p.add_argument("--output", type=Path, default=RESULTS)
    return p.parse_args()


def probe(
    X: np.ndarray, y: np.ndarray, splits: tuple[np.ndarray, np.ndarray, np.ndarray], name: str
) -> dict[str, Any]:
    """Linear probe: C chosen on the validation nodes; validation and test accuracy in %."""
    tr, va, te = splits
    best_val, best_model, best_c = -1.0, None, None
    for C in CS:
        m = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(X[tr], y[tr])
        v = m.score(X[va], y[va])
        if v > best_val:
            best_val, best_model, best_c = v, m, C
    assert best_model is not None
    result = {
        "val_acc": 100 * best_val,
        "test_acc": 100 * best_model.score(X[te], y[te]),
        "C": best_c,
        "dim": int(X.shape[1]),
    }
    print(
        f"{name}: val {result['val_acc']:.1f} test {result['test_acc']:.1f} (dim {result['dim']})",
        flush=True,
    )
    return result


def main() -> int:
    args = parse_args()
    torch.set_num_threads(1)
    g = build_dataset("cora", args.data_root).pretrain[0]
    n = g.num_nodes
    y = g.y.numpy()
    splits = tuple(m.numpy().nonzero()[0] for m in (g.train_mask, g.val_mask, g.test_mask))
    ei = g.edge_index.numpy()
    A = sp.coo_matrix((np.ones(ei.shape[1]), ei), shape=(n, n)).tocsr()
    A.data[:] = 1
    A = ((A + A.T) > 0).astype(float)
    G = nx.from_scipy_sparse_array(A)
    results: dict[str, dict[str, Any]] = {}

    deg = np.asarray(A.sum(1)).ravel()
    A2 = (A @ A + A > 0).astype(float)
    two_hop = np.asarray(A2.sum(1)).ravel()
    tri = np.array([nx.triangles(G, v) for v in range(n)], float)
    clu = np.array([nx.clustering(G, v) for v in range(n)])
    nbr = np.asarray(A @ deg).ravel() / np.maximum(deg, 1)
    core_number = nx.core_number(G)
    core = np.array([core_number[v] for v in range(n)], float)
    local = np.stack([np.log1p(deg), np.log1p(two_hop), clu, np.log1p(tri), np.log1p(nbr), core], 1)
    results["local"] = probe(
        local,
        y,
        splits,
        "local structure (degree, 2-hop size, clustering, triangles, mean nbr degree, core number)",
    )
    onehot = np.eye(int(deg.max()) + 1)[deg.astype(int)]
    results["degree_onehot"] = probe(onehot, y, splits, "one-hot degree")

    d = np.maximum(deg, 1) ** -0.5
    An = sp.diags(d) @ A @ sp.diags(d)
    for k in EIGVEC_COUNTS:
        _, vecs = eigsh(An, k=k, which="LA", v0=np.random.default_rng(0).random(n))
        results[f"eigvecs_{k}"] = probe(
            vecs, y, splits, f"global position: {k} Laplacian eigenvectors of the whole graph"
        )

    sizes = [len(c) for c in nx.connected_components(G)]
    print("components", len(sizes), "largest", max(sizes))
    record = {
        "benchmark": "graph_structure_baselines",
        "results": results,
        "components": {"count": len(sizes), "largest": max(sizes)},
        **provenance(torch_threads=1),
    }
    atomic_write_json(args.output, record)
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
