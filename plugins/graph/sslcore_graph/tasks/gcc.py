"""GCC: Graph Contrastive Coding (Qiu et al. 2020, "GCC: Graph Contrastive Coding for
Graph Neural Network Pre-Training", KDD)."""

from __future__ import annotations

import copy
import weakref
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from annotated_types import Ge, Gt, Interval
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from sslcore.contrast import NegativeQueue, ema_update, info_nce, momentum_copy
from sslcore.paradigms import ContrastiveTask, TaskOutput
from sslcore_graph.checks import check_graph
from sslcore_graph.subgraphs import (
    POSITIONAL_DIM,
    CSRGraph,
    gcc_visit_budget,
    sample_subgraphs,
    seed_subgraph,
)
from sslcore_graph.tasks.graph_level import graph_embeddings

#: width of the learned degree embedding (reference code: ``--degree-embedding-size 16``)
DEGREE_DIM = 16
#: encoder input width: positional features + degree embedding + seed flag
NUM_FEATURES = POSITIONAL_DIM + DEGREE_DIM + 1

_CSR_CACHE: dict[int, tuple[weakref.ref[Tensor], CSRGraph]] = {}


def csr_of(data: Data) -> CSRGraph:
    """The undirected CSR adjacency of ``data``, cached while its ``edge_index`` lives."""
    key = id(data.edge_index)
    hit = _CSR_CACHE.get(key)
    if hit is not None and hit[0]() is data.edge_index and hit[1].num_nodes == data.num_nodes:
        return hit[1]
    csr = CSRGraph.from_data(data)
    _CSR_CACHE[key] = (weakref.ref(data.edge_index, lambda _: _CSR_CACHE.pop(key, None)), csr)
    return csr


class StructuralFeatures(nn.Module):
    r"""GCC's node input features of a subgraph, ``[n, 49]``:
    :math:`x_v = [\,\text{eigvec}_v \ (32) \,\|\, E_{\deg}(\min(d_v, D)) \ (16) \,\|\, [v = \text{seed}]\,]`,
    the Laplacian positional features, a learned embedding of the degree in the subgraph
    (clamped at ``max_degree`` :math:`D`) and the seed flag (reference ``--degree-input``).
    """

    def __init__(self, max_degree: int = 512):
        super().__init__()
        self.max_degree = max_degree
        self.degree_embedding = nn.Embedding(max_degree + 1, DEGREE_DIM)

    def forward(self, batch: Batch) -> Batch:
        out = copy.copy(batch)  # shallow: the input batch keeps its attributes
        degree = self.degree_embedding(batch.degree.clamp(0, self.max_degree))
        out.x = torch.cat([batch.pos_enc, degree, batch.seed_flag.view(-1, 1)], dim=1)
        return out


class GraphContrastiveCoding(ContrastiveTask):
    r"""Subgraph instance discrimination across graphs, structure only.

    For a seed node :math:`v`, two random walks with restart give two subgraph instances
    :math:`G_v^q, G_v^k` (:mod:`sslcore_graph.subgraphs`: restart probability 0.8 meaning
    *return to the seed after each step*, seed relabelled node 0, features = 32 Laplacian
    eigenvectors + degree embedding + seed flag, :class:`StructuralFeatures`). With the
    encoder :math:`f` (default GIN with a readout over all layers) and L2-normalised
    :math:`q = f(G_v^q)`, :math:`k = f_\xi(G_v^k)`:

    .. math::
        \mathcal{L} = -\log \frac{\exp(q^\top k_+/\tau)}{\exp(q^\top k_+/\tau) + \sum_{j=1}^{K} \exp(q^\top k_j/\tau)}

    ``moco=True`` (default): keys from the momentum encoder :math:`\xi \leftarrow m\xi +
    (1-m)\theta` (``momentum=0.999``) and a queue of ``queue_size`` earlier keys as
    negatives (started with random unit vectors). ``moco=False``: GCC (E2E), keys from
    the same encoder and the batch's other keys as negatives. :math:`\tau` = 0.07.

    A pretraining sample is a whole graph; each step draws ``num_seeds`` seeds from the
    nodes of the step's graphs with probability :math:`\propto d_v^{0.75}` (the reference's
    ``LoadBalanceGraphDataset``; isolated nodes are never seeds), with a visit budget
    :math:`\max(\text{rw\_hops}, \lfloor d^{0.75} \tfrac{e}{e-1} / 0.8 + 0.5 \rfloor)`.
    Node features ``x`` of the input graphs are never used, so GCC transfers to any graph.

    :meth:`embed`: for a single graph (a ``Data``, node-level evaluation) one subgraph per
    node (budget ``rw_hops``, seeded walk: reproducible), ``[num_nodes, d]``; for a
    ``Batch`` of graphs (graph classification) each whole graph with its highest-degree
    node as the seed, as the reference, ``[num_graphs, d]``.
    """

    domain = "graph"
    signal = "subgraph instance discrimination (random walks with restart)"
    family = "instance-instance"
    negatives = "momentum"
    min_batch_size = 1  # one graph yields num_seeds instances

    def __init__(
        self,
        encoder: nn.Module,
        num_seeds: Annotated[int, Ge(2)] = 32,
        restart_prob: Annotated[float, Interval(gt=0, le=1)] = 0.8,
        rw_hops: Annotated[int, Ge(1)] = 256,
        temperature: Annotated[float, Gt(0)] = 0.07,
        moco: bool = True,
        queue_size: Annotated[int, Ge(1)] = 16384,
        momentum: Annotated[float, Interval(ge=0, le=1)] = 0.999,
        max_degree: Annotated[int, Ge(1)] = 512,
        seed_weighting: Literal["degree", "uniform"] = "degree",
        embed_seed: int = 0,
        embed_chunk: Annotated[int, Ge(1)] = 512,
    ):
        super().__init__(encoder, head=StructuralFeatures(max_degree))
        if num_seeds < 2:
            raise ValueError(
                f"gcc: num_seeds must be >= 2 (the instances contrast each other), got {num_seeds}"
            )
        if seed_weighting not in ("degree", "uniform"):
            raise ValueError(f"gcc: seed_weighting must be 'degree' or 'uniform', got {seed_weighting!r}")
        self.num_seeds, self.restart_prob, self.rw_hops = num_seeds, restart_prob, rw_hops
        self.temperature, self.moco, self.momentum = temperature, moco, momentum
        self.seed_weighting, self.embed_seed, self.embed_chunk = seed_weighting, embed_seed, embed_chunk
        if moco:
            self.key_network = momentum_copy(nn.ModuleDict({"features": self.head, "encoder": self.encoder}))
            self.queue = NegativeQueue(queue_size, encoder.output_dim)
            self.queue.push(F.normalize(torch.randn(queue_size, encoder.output_dim), dim=1))
        self._new_keys: Tensor | None = None

    @classmethod
    def encoder_info(cls, info: Mapping[str, Any]) -> Mapping[str, Any]:
        """The encoder sees GCC's structural features (49 columns), not the dataset's."""
        return {**info, "num_features": NUM_FEATURES}

    # -- instances ---------------------------------------------------------------------
    def draw_seeds(self, graphs: list[Data], rng: np.random.Generator) -> list[tuple[int, int]]:
        """``num_seeds`` ``(graph index, node)`` pairs over the nodes of ``graphs``."""
        degrees = np.concatenate([csr_of(g).degree for g in graphs]).astype(np.float64)
        weights = degrees**0.75 if self.seed_weighting == "degree" else np.ones_like(degrees)
        if weights.sum() == 0:  # only isolated nodes
            weights = np.ones_like(degrees)
        flat = rng.choice(len(weights), size=self.num_seeds, replace=True, p=weights / weights.sum())
        offsets = np.cumsum([0] + [g.num_nodes for g in graphs])
        which = np.searchsorted(offsets, flat, side="right") - 1
        return [(int(i), int(v - offsets[i])) for i, v in zip(which, flat)]

    def collate(self, samples: list[Data]) -> tuple[Batch, Batch]:
        """``[graph] -> (queries, keys)``: two RWR subgraphs per drawn seed, as two
        ``Batch`` es of ``num_seeds`` subgraphs (row ``i`` of each from the same seed)."""
        for i, g in enumerate(samples):
            check_graph_structure(g, f"GCC input graph {i}")
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))  # seeded from torch's RNG
        pairs = self.draw_seeds(samples, rng)
        views: tuple[list[Data], list[Data]] = ([], [])
        for gi in sorted({g for g, _ in pairs}):
            csr = csr_of(samples[gi])
            seeds = np.array([v for g, v in pairs if g == gi])
            budget = gcc_visit_budget(csr.degree[seeds], self.rw_hops, self.restart_prob)
            for view in views:
                view.extend(sample_subgraphs(csr, seeds, budget, self.restart_prob, rng))
        return Batch.from_data_list(views[0]), Batch.from_data_list(views[1])

    # -- objective ---------------------------------------------------------------------
    def encode(self, batch: Batch) -> Tensor:
        """L2-normalised embeddings ``[num_subgraphs, output_dim]`` of subgraph instances."""
        return F.normalize(graph_embeddings(self.encoder, self.head(batch)), dim=1, eps=1e-5)

    def forward(self, batch: tuple[Batch, Batch]) -> TaskOutput:
        graph_q, graph_k = batch
        q = self.encode(graph_q)
        if self.moco:
            with torch.no_grad():
                net = self.key_network
                k = F.normalize(graph_embeddings(net["encoder"], net["features"](graph_k)), dim=1, eps=1e-5)
            loss = info_nce(q, k, self.queue.negatives(), temperature=self.temperature)
            if self.training:
                self._new_keys = k
        else:
            k = self.encode(graph_k)
            loss = info_nce(q, k, temperature=self.temperature)
        return TaskOutput(loss, {"positive_cosine": (q.detach() * k.detach()).sum(1).mean()})

    def on_train_step_end(self, progress: float) -> None:
        if not self.moco:
            return
        online = nn.ModuleDict({"features": self.head, "encoder": self.encoder})
        ema_update(self.key_network, online, self.momentum)
        if self._new_keys is not None:
            self.queue.push(self._new_keys)
            self._new_keys = None

    # -- transfer ----------------------------------------------------------------------
    def embed(self, inputs: Data | Batch) -> Tensor:
        """Node embeddings ``[num_nodes, d]`` of a graph (``Data``) or graph embeddings
        ``[num_graphs, d]`` of a ``Batch`` (see the class doc)."""
        if isinstance(inputs, Batch):
            subgraphs = []
            for g in inputs.to_data_list():
                check_graph_structure(g, "GCC input graph")
                csr = csr_of(g)
                seed = int(np.argmax(csr.degree))
                subgraphs.append(seed_subgraph(csr, seed, np.arange(g.num_nodes)))
        else:
            check_graph_structure(inputs, "GCC input graph")
            # one RWR subgraph per node, budget rw_hops, seeded by embed_seed (reproducible)
            rng = np.random.default_rng(self.embed_seed)
            csr = csr_of(inputs)
            subgraphs = sample_subgraphs(csr, np.arange(csr.num_nodes), self.rw_hops, self.restart_prob, rng)
        device = next(self.parameters()).device
        out = [
            self.encode(Batch.from_data_list(subgraphs[i : i + self.embed_chunk]).to(device))
            for i in range(0, len(subgraphs), self.embed_chunk)
        ]
        return torch.cat(out)


def check_graph_structure(data: Any, where: str) -> None:
    """:func:`check_graph` for graphs that may lack node features (GCC reads edges only)."""
    if getattr(data, "x", None) is None:
        n = data.num_nodes
        if n is None or n == 0:
            raise ValueError(f"{where}: the graph is empty (0 nodes)")
        probe = Data(x=torch.zeros(n, 1), edge_index=data.edge_index, num_nodes=n)
        check_graph(probe, where)
    else:
        check_graph(data, where)
