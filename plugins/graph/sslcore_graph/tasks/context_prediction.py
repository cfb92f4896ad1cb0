"""Context prediction (Hu et al. 2020, "Strategies for Pre-training Graph Neural Networks",
ICLR): tell a centre node's K-hop neighbourhood embedding its own surrounding context
from the contexts of other centres."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Annotated, Any, NamedTuple

import torch
import torch.nn.functional as F
from annotated_types import Ge
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import global_mean_pool

from sslcore.errors import ConfigError
from sslcore.paradigms import ContrastiveTask, TaskOutput
from sslcore_graph.checks import check_graph
from sslcore_graph.datasets.graphs import collate_graphs
from sslcore_graph.tasks.graph_level import node_and_graph_embeddings
from sslcore_graph.tasks.node_views import message_passing_depth, one_full_graph, seed_nodes


def hop_distances(edge_index: Tensor, centres: Tensor, num_nodes: int, max_hops: int) -> Tensor:
    r"""Shortest-path hop counts ``[num_centres, num_nodes]`` (long) from every node to each
    centre along the message direction (``u -> v`` for ``edge_index[:, e] = (u, v)``: the
    nodes whose messages reach the centre in ``d`` layers, PyG's ``flow="source_to_target"``,
    as ``k_hop_subgraph``), ``-1`` for nodes farther than ``max_hops``. Breadth-first search
    of all centres at once: the frontier ``[num_centres, num_nodes]`` advances one hop per
    ``index_add`` over the edges (``O(num_centres * num_edges)`` per hop)."""
    dist = torch.full((len(centres), num_nodes), -1, dtype=torch.long)
    dist[torch.arange(len(centres)), centres] = 0
    if max_hops == 0 or edge_index.numel() == 0:
        return dist
    src, dst = edge_index
    frontier = dist == 0
    for hop in range(1, max_hops + 1):
        # a node is reached when one of its edges u -> v leads into the frontier
        into = torch.zeros(dist.shape, dtype=torch.float).index_add_(1, src, frontier[:, dst].float())
        reached = (into > 0) & (dist < 0)
        if not reached.any():
            break
        dist[reached] = hop
        frontier = reached
    return dist


def induced_subgraphs(x: Tensor, edge_index: Tensor, members: Tensor) -> tuple[Data, Tensor]:
    """One induced subgraph per row of ``members`` ``[B, N]`` (bool: the nodes of subgraph
    ``b``), batched as a disjoint union: a ``Data`` with ``x``, ``edge_index``, ``batch``
    (the subgraph of each node) and ``n_id`` (its node id in the input graph), and the map
    ``[B, N]`` from (subgraph, input node) to the node's row in the union (-1 if absent).
    Subgraphs are ordered by ``b``, nodes within each by id."""
    b, n_id = members.nonzero(as_tuple=True)
    index = torch.full(members.shape, -1, dtype=torch.long)
    index[b, n_id] = torch.arange(len(n_id))
    src, dst = edge_index
    in_both = members[:, src] & members[:, dst]  # [B, E]
    eb, e = in_both.nonzero(as_tuple=True)
    union_edges = torch.stack([index[eb, src[e]], index[eb, dst[e]]])
    return Data(x=x[n_id], edge_index=union_edges, batch=b, n_id=n_id, num_nodes=len(n_id)), index


class ContextBatch(NamedTuple):
    """A collated context-prediction batch of ``C`` centres (those that have a context).

    ``neighbourhoods``: the centres' K-hop subgraphs, batched; ``centre_rows`` ``[C]``: each
    centre's row in it. ``contexts``: the context graphs (nodes ``r1 < d <= r2`` hops from
    the centre), batched; ``anchor_rows`` ``[A]``: the rows of the context anchors (``r1 < d
    <= K``, in both) and ``anchor_centre`` ``[A]``: the centre (0 .. C-1) of each.
    ``drawn``: how many centres were drawn (``drawn - C`` had no context anchor and were
    left out)."""

    neighbourhoods: Data
    centre_rows: Tensor
    contexts: Data
    anchor_rows: Tensor
    anchor_centre: Tensor
    drawn: int


class ContextPrediction(ContrastiveTask):
    r"""Context prediction: a K-layer GNN :math:`f` (the encoder) embeds each centre node
    :math:`v` from its K-hop neighbourhood :math:`N_K(v)`; a second GNN :math:`f_c` (a
    re-initialised copy of the encoder, ``head``) embeds the context graph :math:`G_c(v)`
    induced by the nodes between :math:`r_1` and :math:`r_2` hops of :math:`v`
    (:math:`r_1 < d \le r_2`), whose summary is the mean over the context anchors
    :math:`A(v)` (nodes in both, :math:`r_1 < d \le K`):

    .. math::
        h_v = f(N_K(v))_v, \qquad
        c_v = \frac{1}{|A(v)|} \sum_{u \in A(v)} f_c(G_c(v))_u, \qquad
        \mathcal{L} = \frac1C \sum_{v} \mathrm{BCE}(h_v^\top c_v, 1)
            + \frac{1}{C}\sum_{s=1}^{S}\sum_{v} \mathrm{BCE}(h_v^\top c_{\sigma^s(v)}, 0)

    Negatives: the contexts of the other centres of the batch, :math:`\sigma^s(v)` = the
    centre ``s`` places further on (cyclic), ``s = 1 .. S`` (``neg_samples``; Hu et al.'s
    ``cycle_index``), never the centre's own. BCE with logits, as the reference's ``cbow``
    mode. Defaults as the paper: ``K`` = the encoder's message-passing depth,
    ``r1 = K - 1``, ``r2 = r1 + 3``; centres without an anchor (e.g. in a component
    smaller than K hops) are left out and counted (metric ``no_context``).

    Centres: on a node-level dataset (one graph) ``num_centres`` random nodes per step (the
    seed nodes of a sampled subgraph, whose hops stop at the sampled ones); on a
    graph-level dataset (``per_graph``, a batch of graphs) one random node per graph, as
    Hu et al. on molecules. Subgraphs are induced on the step's graph (hop distances:
    :func:`hop_distances`) and batched as disjoint unions. :meth:`embed`: node embeddings
    ``[num_nodes, d]`` of a graph, the encoder's readout ``[num_graphs, d]`` of a ``Batch``.
    """

    domain = "graph"
    signal = "context prediction (K-hop neighbourhood vs surrounding context graph)"
    family = "context-instance"
    negatives = "end-to-end"
    min_batch_size = 1  # node level: one graph holds many centres
    label = "context prediction"

    def __init__(
        self,
        encoder: nn.Module,
        num_hops: Annotated[int, Ge(1)] | None = None,
        r1: Annotated[int, Ge(0)] | None = None,
        r2: Annotated[int, Ge(1)] | None = None,
        num_centres: Annotated[int, Ge(2)] = 64,
        neg_samples: Annotated[int, Ge(1)] = 1,
        per_graph: bool = False,
    ):
        depth = message_passing_depth(encoder)
        k = num_hops if num_hops is not None else depth
        if k is None:
            raise ConfigError(
                "context prediction: the encoder's number of message-passing layers cannot be told; "
                "give it as --task-opt num_hops=K"
            )
        r1 = k - 1 if r1 is None else r1
        r2 = r1 + 3 if r2 is None else r2
        if not 0 <= r1 < k:
            raise ConfigError(
                f"context prediction: r1 must satisfy 0 <= r1 < K = {k} (anchors lie between), got {r1}"
            )
        if r2 <= r1:
            raise ConfigError(f"context prediction: r2 must be larger than r1 = {r1}, got {r2}")
        if num_centres < 2 or neg_samples < 1 or neg_samples >= num_centres:
            raise ConfigError(
                f"context prediction: need num_centres >= 2 and 1 <= neg_samples < num_centres, got "
                f"num_centres={num_centres}, neg_samples={neg_samples}"
            )
        context_encoder = copy.deepcopy(encoder)  # independently re-initialised
        for m in context_encoder.modules():
            if m is not context_encoder and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        super().__init__(encoder, head=context_encoder)
        self.num_hops, self.r1, self.r2 = k, r1, r2
        self.num_centres, self.neg_samples, self.per_graph = num_centres, neg_samples, per_graph

    @classmethod
    def from_data(cls, encoder: nn.Module, info: Mapping[str, Any], **options: Any) -> ContextPrediction:
        """``per_graph`` defaults to whether the dataset is a set of graphs (``num_graphs``)."""
        options.setdefault("per_graph", "num_graphs" in info)
        return cls(encoder, **options)

    # -- batches ---------------------------------------------------------------------------
    def draw_centres(self, graph: Data, generator: torch.Generator | None = None) -> Tensor:
        """Centre node ids ``[C]``: one per graph of a ``Batch`` (``per_graph``), the seed
        nodes of a sampled subgraph, else ``num_centres`` distinct random nodes."""
        if self.per_graph:
            batch = (
                graph.batch
                if getattr(graph, "batch", None) is not None
                else torch.zeros(graph.num_nodes, dtype=torch.long)
            )
            sizes = torch.bincount(batch, minlength=int(batch.max()) + 1)
            starts = torch.cumsum(sizes, 0) - sizes
            offsets = (torch.rand(len(sizes), generator=generator) * sizes).long()
            return (starts + offsets)[sizes > 0]
        seeds = torch.arange(graph.num_nodes)[seed_nodes(graph)]
        if len(seeds) < graph.num_nodes:  # a sampled subgraph: its seeds are the centres
            return seeds
        return torch.randperm(graph.num_nodes, generator=generator)[: self.num_centres]

    def build_batch(self, graph: Data, centres: Tensor) -> ContextBatch:
        """The neighbourhoods and contexts of ``centres`` in ``graph`` (CPU work)."""
        dist = hop_distances(graph.edge_index, centres, graph.num_nodes, max(self.num_hops, self.r2))
        reached = dist >= 0
        anchors = reached & (dist > self.r1) & (dist <= self.num_hops)
        keep = anchors.any(dim=1)
        dist, reached, anchors, centres = dist[keep], reached[keep], anchors[keep], centres[keep]
        hood, hood_index = induced_subgraphs(graph.x, graph.edge_index, reached & (dist <= self.num_hops))
        context, context_index = induced_subgraphs(
            graph.x, graph.edge_index, reached & (dist > self.r1) & (dist <= self.r2)
        )
        centre_rows = hood_index[torch.arange(len(centres)), centres]
        anchor_centre, anchor_node = anchors.nonzero(as_tuple=True)
        anchor_rows = context_index[anchor_centre, anchor_node]
        return ContextBatch(hood, centre_rows, context, anchor_rows, anchor_centre, int(keep.numel()))

    def collate(self, samples: list[Data]) -> ContextBatch:
        """Graphs -> :class:`ContextBatch`: one graph (node level) or a batch of graphs
        (``per_graph``), its centres drawn, their subgraphs cut out."""
        if self.per_graph:
            for i, g in enumerate(samples):
                check_graph(g, f"context prediction input graph {i}")
            graph = collate_graphs(samples)
        else:
            graph = one_full_graph(samples, self.label)
        return self.build_batch(graph, self.draw_centres(graph))

    # -- objective -------------------------------------------------------------------------
    def centre_and_context(self, batch: ContextBatch) -> tuple[Tensor, Tensor]:
        """Centre embeddings :math:`h_v` ``[C, d]`` and context summaries :math:`c_v` ``[C, d]``."""
        h = self.encoder(batch.neighbourhoods)[batch.centre_rows]
        anchors = self.head(batch.contexts)[batch.anchor_rows]
        c = global_mean_pool(anchors, batch.anchor_centre, size=len(batch.centre_rows))
        return h, c

    def negative_index(self, count: int, device: torch.device | str = "cpu") -> Tensor:
        """``[S, count]``: row ``s - 1`` holds :math:`\\sigma^s(v) = (v + s) \\bmod C`."""
        shifts = torch.arange(1, self.neg_samples + 1, device=device)[:, None]
        return (torch.arange(count, device=device)[None, :] + shifts) % count

    def forward(self, batch: ContextBatch) -> TaskOutput:
        count = len(batch.centre_rows)
        if count <= self.neg_samples:
            raise ValueError(
                f"context prediction: only {count} of {batch.drawn} centres have a context (nodes between "
                f"r1={self.r1} and K={self.num_hops} hops), need more than neg_samples={self.neg_samples}; "
                "use more centres (num_centres, or larger graphs / batches) or smaller r1"
            )
        h, c = self.centre_and_context(batch)
        pos = (h * c).sum(dim=1)
        neg_index = self.negative_index(count, h.device)
        neg = (h[None] * c[neg_index]).sum(dim=2)  # [S, C]
        loss = F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos)) + self.neg_samples * (
            F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
        )
        accuracy = torch.cat([pos > 0, (neg < 0).flatten()]).float().mean()
        no_context = torch.full((), 1 - count / batch.drawn, device=h.device)
        return TaskOutput(loss, {"disc_acc": accuracy, "no_context": no_context})

    def embed(self, inputs: Data | Batch) -> Tensor:
        """Node embeddings ``[num_nodes, d]`` of a graph; graph embeddings (the encoder's
        readout) ``[num_graphs, d]`` of a ``Batch``."""
        if isinstance(inputs, Batch):
            return node_and_graph_embeddings(self.encoder, inputs)[1]
        check_graph(inputs, "context prediction input graph")
        return self.encoder(inputs)
