"""Deep Graph Infomax (Veličković et al. 2019, "Deep Graph Infomax", ICLR)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from sslcore.contrast import bce_mi
from sslcore.paradigms import ContrastiveTask, TaskOutput
from sslcore_graph.corruption import shuffle_node_features
from sslcore_graph.tasks.node_views import FullGraphTask, seed_nodes


class DeepGraphInfomax(FullGraphTask, ContrastiveTask):
    r"""Maximise the mutual information between node embeddings and a graph summary.

    With :math:`H = f(X, A)` ``[N, d]``, the corrupted graph :math:`(\tilde X, A)`,
    :math:`\tilde X = PX` (random row permutation), :math:`\tilde H = f(\tilde X, A)`, the
    summary :math:`s = \sigma(\frac1N \sum_i h_i)` ``[d]`` and the bilinear
    discriminator :math:`D(h, s) = h^\top W s` (``head`` holds :math:`W`):

    .. math::
        \mathcal{L} = \frac{1}{2N} \sum_{i=1}^{N} \Big[
            \mathrm{BCE}\big(D(h_i, s), 1\big) + \mathrm{BCE}\big(D(\tilde h_i, s), 0\big) \Big]

    (BCE with logits, :func:`sslcore.contrast.bce_mi`). One batch is one full graph
    (``batch_size = 1``); the corruption is drawn in :meth:`forward`. :meth:`embed`
    returns :math:`H`.

    Mini-batch (a subgraph sampled around ``B`` seed nodes, ``--dataset-opt
    batch_nodes=B``): :math:`P` permutes the subgraph's rows, and the sums and the summary
    :math:`s` run over the seed nodes only (:func:`~sslcore_graph.tasks.node_views.seed_nodes`),
    as DGI's Reddit / PPI set-up.
    """

    minibatch = True  # the loss covers the seed nodes of a sampled subgraph

    domain = "graph"
    signal = "node-summary mutual information"
    family = "context-instance"
    negatives = "end-to-end"
    min_batch_size = 1  # one graph; its corrupted copy provides the negatives
    label = "DGI"

    def __init__(self, encoder: nn.Module):
        dim = encoder.output_dim
        super().__init__(encoder, head=nn.Linear(dim, dim, bias=False))

    def summary(self, h: Tensor) -> Tensor:
        r"""Readout :math:`s = \sigma(\mathrm{mean}_i\, h_i)`: ``[N, d] -> [d]``."""
        return torch.sigmoid(h.mean(dim=0))

    def discriminate(self, h: Tensor, s: Tensor) -> Tensor:
        r"""Logits :math:`D(h_i, s) = h_i^\top W s` ``[N]`` for node embeddings ``[N, d]`` and a
        summary ``[d]``; computed as ``h @ (W s)``, never materialising an ``[N, d, d]`` tensor."""
        return h @ self.head(s)

    def forward(self, batch: Data) -> TaskOutput:
        seeds = seed_nodes(batch)
        h = self.encoder(batch)[seeds]
        h_corrupted = self.encoder(shuffle_node_features(batch))[seeds]
        s = self.summary(h)
        pos, neg = self.discriminate(h, s), self.discriminate(h_corrupted, s)
        accuracy = torch.cat([pos > 0, ~(neg > 0)]).float().mean()
        return TaskOutput(bce_mi(pos, neg), {"disc_acc": accuracy})
