r"""GCC's subgraph instances (Qiu et al. 2020, "GCC: Graph Contrastive Coding for Graph
Neural Network Pre-Training", KDD): random walks with restart from a seed node, the
induced subgraph with the seed as node 0, and its Laplacian positional features. A trace
takes at least one step and after each stops (returns to the seed) with probability
``restart_prob``; traces are drawn until ``num_visits`` visits (GCC's
``max_nodes_per_seed``). Numpy on the CSR adjacency, vectorised over all walkers; the walk
as the reference's is explained in plugins/graph/README.md, "GCC".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

#: GCC's positional embedding size (the paper's and reference code's 32)
POSITIONAL_DIM = 32


@dataclass
class CSRGraph:
    """Out-neighbour lists: node ``v``'s neighbours are ``col[rowptr[v]:rowptr[v + 1]]``."""

    rowptr: np.ndarray
    col: np.ndarray
    num_nodes: int

    @classmethod
    def from_data(cls, data: Data) -> CSRGraph:
        """CSR of ``data.edge_index`` (made undirected first, as GCC's graphs are;
        duplicate edges and self-loops removed)."""
        n = int(data.num_nodes)
        ei = to_undirected(data.edge_index, num_nodes=n).numpy()
        keep = ei[0] != ei[1]
        src, dst = ei[0][keep], ei[1][keep]
        key = np.unique(src.astype(np.int64) * n + dst)
        src, dst = key // n, key % n
        rowptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=rowptr[1:])
        return cls(rowptr, dst.astype(np.int64), n)

    @property
    def degree(self) -> np.ndarray:
        return np.diff(self.rowptr)


def gcc_visit_budget(degree: np.ndarray, rw_hops: int, restart_prob: float) -> np.ndarray:
    r"""GCC's pretraining budget ``max_nodes_per_seed``:
    :math:`\max(\text{rw\_hops},\ \lfloor d^{0.75}\, \tfrac{e}{e-1} / p_{\text{restart}} + 0.5\rfloor)`."""
    scaled = np.floor(degree.astype(np.float64) ** 0.75 * math.e / (math.e - 1) / restart_prob + 0.5)
    return np.maximum(rw_hops, scaled).astype(np.int64)


def rwr_visits(
    graph: CSRGraph,
    seeds: np.ndarray,
    num_visits: np.ndarray | int,
    restart_prob: float = 0.8,
    rng: np.random.Generator | None = None,
) -> list[np.ndarray]:
    """Nodes visited by random walks with restart from each seed (see the module doc).

    Args:
        graph: the graph's CSR adjacency.
        seeds: ``[S]`` seed node ids.
        num_visits: visit budget per seed (int or ``[S]``): traces are drawn until their
            total length reaches it.
        restart_prob: probability in (0, 1] to end a trace after each step.

    Returns:
        ``S`` arrays of visited node ids in visiting order (repeats kept, the seed itself
        only when a walk returns to it); empty for an isolated seed.
    """
    if not 0 < restart_prob <= 1:
        raise ValueError(f"restart_prob must be in (0, 1], got {restart_prob}")
    rng = rng or np.random.default_rng()
    seeds = np.asarray(seeds, dtype=np.int64)
    budgets = np.broadcast_to(np.asarray(num_visits, dtype=np.int64), seeds.shape)
    deg = graph.degree
    # trace lengths: >= 1 step, geometric with success probability restart_prob; enough
    # traces per seed to reach its budget (the last trace is kept whole, as DGL does)
    owner, lengths = [], []
    for s, (seed, budget) in enumerate(zip(seeds, budgets)):
        if deg[seed] == 0 or budget <= 0:
            continue
        lens = rng.geometric(restart_prob, size=int(budget * restart_prob) + 8)
        while lens.sum() < budget:
            lens = np.concatenate([lens, rng.geometric(restart_prob, size=int(budget) + 8)])
        count = int(np.searchsorted(np.cumsum(lens), budget) + 1)
        owner.append(np.full(count, s))
        lengths.append(lens[:count])
    if not owner:
        return [np.zeros(0, dtype=np.int64) for _ in seeds]
    walker_seed = np.concatenate(owner)
    walker_len = np.concatenate(lengths)
    cur = seeds[walker_seed].copy()
    steps = np.full((int(walker_len.max()), len(cur)), -1, dtype=np.int64)
    alive = np.ones(len(cur), dtype=bool)
    for t in range(steps.shape[0]):
        alive &= (walker_len > t) & (deg[cur] > 0)  # a dead end (directed graphs) ends the trace
        idx = np.nonzero(alive)[0]
        if len(idx) == 0:
            break
        offset = np.floor(rng.random(len(idx)) * deg[cur[idx]]).astype(np.int64)
        cur[idx] = graph.col[graph.rowptr[cur[idx]] + offset]
        steps[t, idx] = cur[idx]
    # order visits by walker (traces in order), then by step
    walker_ids = np.broadcast_to(np.arange(len(cur)), steps.shape).T.reshape(-1)
    flat = steps.T.reshape(-1)
    valid = flat >= 0
    visited_by = walker_seed[walker_ids[valid]]
    visited = flat[valid]
    bounds = np.searchsorted(visited_by, np.arange(len(seeds) + 1))
    return [visited[bounds[s] : bounds[s + 1]] for s in range(len(seeds))]


def induced_subgraph(graph: CSRGraph, nodes: np.ndarray) -> np.ndarray:
    """Edges ``[2, E']`` among ``nodes`` (unique ids), relabelled to positions in ``nodes``."""
    order = np.argsort(nodes)
    sorted_nodes = nodes[order]
    starts, ends = graph.rowptr[nodes], graph.rowptr[nodes + 1]
    counts = ends - starts
    src = np.repeat(np.arange(len(nodes)), counts)
    first = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    dst = graph.col[first + np.arange(counts.sum())]
    pos = np.clip(np.searchsorted(sorted_nodes, dst), 0, len(nodes) - 1)
    keep = sorted_nodes[pos] == dst
    return np.stack([src[keep], order[pos[keep]]])


def laplacian_positional_features(
    edge_index: np.ndarray, num_nodes: int, dim: int = POSITIONAL_DIM, rng: np.random.Generator | None = None
) -> Tensor:
    r"""GCC's positional features ``[num_nodes, dim]``: eigenvectors of the normalised
    Laplacian :math:`L = I - D^{-1/2} A D^{-1/2}` for its :math:`k = \min(n - 2, \text{dim})`
    smallest eigenvalues (the reference code's ``eigsh(D^{-1/2} A D^{-1/2}, k, which="LA")``;
    degrees clipped at 1), each row L2-normalised, zero-padded to ``dim`` columns.

    The trivial eigenvector :math:`D^{1/2}\mathbf 1` (eigenvalue 0) is included, as in the
    reference. Columns are ordered by increasing Laplacian eigenvalue (trivial first), so a
    column means the same for every subgraph size (the reference's ``eigsh`` returns them
    in the reverse order). Subgraphs of 256 nodes or fewer use a dense ``eigh``
    (deterministic); larger ones ``scipy.sparse.linalg.eigsh`` (dense if ARPACK does not converge). Eigenvector signs are
    arbitrary, as in the reference. ``n <= 2`` gives all zeros (``k <= 0``).
    """
    n = num_nodes
    k = min(n - 2, dim)
    out = torch.zeros(n, dim)  # device-ok: CPU-side sampling (numpy / scipy), moved with the batch
    if k <= 0:
        return out
    import scipy.sparse as sp

    adj = sp.coo_matrix((np.ones(edge_index.shape[1]), (edge_index[0], edge_index[1])), shape=(n, n)).tocsr()
    adj.data[:] = 1.0
    deg = np.asarray(adj.sum(axis=0)).ravel().clip(1)  # in-degree, as the reference
    norm = sp.diags(deg**-0.5)
    a_norm = norm @ adj @ norm
    vectors = None
    if n > 256:
        from scipy.sparse.linalg import ArpackError, eigsh

        v0 = (rng or np.random.default_rng(0)).random(n)
        try:
            values, vectors = eigsh(a_norm, k=k, which="LA", ncv=min(n, max(2 * k + 1, 20)), v0=v0)
            vectors = vectors[:, np.argsort(-values)]
        except ArpackError:  # no convergence: the dense solver below
            vectors = None
    if vectors is None:
        values, vectors = np.linalg.eigh(a_norm.toarray())
        vectors = vectors[:, ::-1][:, :k]  # largest of D^-1/2 A D^-1/2 = smallest of L
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.maximum(norms, 1e-12)
    out[:, :k] = torch.from_numpy(np.ascontiguousarray(vectors)).float()
    return out


def seed_subgraph(graph: CSRGraph, seed: int, visited: np.ndarray, dim: int = POSITIONAL_DIM) -> Data:
    """The subgraph induced by ``seed`` and the ``visited`` nodes, the seed relabelled to
    node 0 and the others in increasing id order (as the reference code).

    Returns ``Data`` with ``edge_index`` ``[2, E]`` (both directions), ``pos_enc``
    ``[n, dim]`` (:func:`laplacian_positional_features`), ``degree`` ``[n]`` (degree in the
    subgraph), ``seed_flag`` ``[n]`` (1 for node 0) and ``node_ids`` ``[n]`` (ids in the
    source graph)."""
    others = np.unique(visited)
    nodes = np.concatenate([[seed], others[others != seed]]).astype(np.int64)
    edge_index = induced_subgraph(graph, nodes)
    n = len(nodes)
    degree = np.bincount(edge_index[1], minlength=n)
    seed_flag = torch.zeros(n)  # device-ok: CPU-side sampling, moved with the batch
    seed_flag[0] = 1.0
    return Data(
        edge_index=torch.from_numpy(edge_index),
        pos_enc=laplacian_positional_features(edge_index, n, dim),
        degree=torch.from_numpy(degree),
        seed_flag=seed_flag,
        node_ids=torch.from_numpy(nodes),
        num_nodes=n,
    )


def sample_subgraphs(
    graph: CSRGraph,
    seeds: np.ndarray,
    num_visits: np.ndarray | int,
    restart_prob: float = 0.8,
    rng: np.random.Generator | None = None,
    dim: int = POSITIONAL_DIM,
) -> list[Data]:
    """One RWR subgraph (:func:`seed_subgraph`) per seed."""
    visits = rwr_visits(graph, seeds, num_visits, restart_prob, rng)
    return [seed_subgraph(graph, int(s), v, dim) for s, v in zip(seeds, visits)]
