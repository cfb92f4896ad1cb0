"""InfoGraph (Sun et al. 2020, "InfoGraph: Unsupervised and Semi-supervised Graph-Level
Representation Learning via Mutual Information Maximization", ICLR)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from sslcore.contrast import jsd_mi
from sslcore.paradigms import ContrastiveTask, TaskOutput
from sslcore_graph.checks import check_graph
from sslcore_graph.datasets.graphs import collate_graphs
from sslcore_graph.tasks.graph_level import node_and_graph_embeddings


class FeedForward(nn.Module):
    """InfoGraph's critic network: a 3-layer ReLU MLP plus a linear shortcut."""

    def __init__(self, dim: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU()
        )
        self.shortcut = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.block(x) + self.shortcut(x)


class InfoGraph(ContrastiveTask):
    r"""Mutual information between node (local) and graph (global) representations.

    With node embeddings :math:`h_v` (the encoder's output; GIN with ``jk="cat"``: every
    layer's node features concatenated), graph summaries :math:`H_G = \sum_{v \in G} h_v`
    (the encoder's readout, sum by default), the critic
    :math:`T(v, G) = \phi(h_v)^\top \psi(H_G)` (:math:`\phi, \psi` :class:`FeedForward`,
    ``head["local"]``, ``head["global"]``) and the Jensen-Shannon estimator
    (:func:`sslcore.contrast.jsd_mi`):

    .. math::
        \mathcal{L} = \frac{1}{|P|}\sum_{(v, G) \in P} \mathrm{sp}(-T(v, G))
            + \frac{1}{|N|}\sum_{(v, G') \in N} \mathrm{sp}(T(v, G'))

    with positives :math:`P` = every node with its own graph and negatives :math:`N` =
    every node with every other graph of the batch. :meth:`embed` returns :math:`H_G`
    ``[num_graphs, d]`` for a ``Batch`` (node embeddings ``[num_nodes, d]`` for a single
    ``Data``).
    """

    min_batch_size = 2  # the batch's other graphs are the negatives

    domain = "graph"
    signal = "node-graph (local-global) mutual information"
    family = "context-instance"
    negatives = "end-to-end"

    def __init__(self, encoder: nn.Module):
        dim = encoder.output_dim
        super().__init__(encoder, head=nn.ModuleDict({"local": FeedForward(dim), "global": FeedForward(dim)}))

    def collate(self, samples: list[Data]) -> Batch:
        for i, g in enumerate(samples):
            check_graph(g, f"InfoGraph input graph {i}")
        return collate_graphs(samples)

    def scores(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Critic scores of the positive pairs ``[num_nodes]`` and of the negative pairs
        ``[num_nodes * (num_graphs - 1)]``."""
        h, g = node_and_graph_embeddings(self.encoder, batch)
        res = self.head["local"](h) @ self.head["global"](g).T  # [num_nodes, num_graphs]
        own = torch.zeros_like(res, dtype=torch.bool)
        own[torch.arange(res.shape[0], device=res.device), batch.batch] = True
        return res[own], res[~own]

    def forward(self, batch: Batch) -> TaskOutput:
        if int(batch.num_graphs) < 2:
            raise ValueError("InfoGraph needs at least 2 graphs per batch (the others are the negatives)")
        pos, neg = self.scores(batch)
        accuracy = torch.cat([(pos > 0).float(), (neg < 0).float()]).mean()
        return TaskOutput(jsd_mi(pos, neg), {"critic_acc": accuracy})

    def embed(self, inputs: Batch | Data) -> Tensor:
        if not isinstance(inputs, Batch):
            return self.encoder(inputs)
        return node_and_graph_embeddings(self.encoder, inputs)[1]
