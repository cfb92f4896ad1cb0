"""BGRL (Thakoor et al. 2022, "Large-Scale Representation Learning on Graphs via
Bootstrapping", ICLR)."""

from __future__ import annotations

from typing import Annotated

import torch
from annotated_types import Ge, Interval
from torch import nn
from torch_geometric.data import Data

from sslcore.contrast import MomentumUpdater, momentum_copy, negative_cosine
from sslcore.paradigms import ContrastiveTask, TaskOutput
from sslcore_graph.tasks.node_views import FullGraphTask, edge_and_feature_views, seed_nodes

#: resolution of the momentum schedule over training progress in [0, 1]
_SCHEDULE_STEPS = 10_000


class BGRL(FullGraphTask, ContrastiveTask):
    r"""Bootstrapped node representations: predict the target encoder's embedding of one
    view from the online encoder's embedding of the other, no negatives.

    Views :math:`t_1, t_2` as GRACE (edge dropping + feature-column masking, each directed
    edge on its own unless ``undirected_views``); online
    encoder :math:`f_\theta` and predictor :math:`q_\theta` (``head``: Linear-BatchNorm-
    PReLU-Linear, ``predictor_hidden_dim`` units); target encoder :math:`f_\xi`, an EMA of
    :math:`f_\theta` that receives no gradient:

    .. math::
        \mathcal{L} = -\tfrac12\big[\cos(q_\theta(f_\theta(t_1)), f_\xi(t_2))
            + \cos(q_\theta(f_\theta(t_2)), f_\xi(t_1))\big], \qquad
        \xi \leftarrow m\,\xi + (1 - m)\,\theta

    per node (mean over nodes, :func:`sslcore.contrast.negative_cosine`), with the
    cosine-increasing momentum :math:`m = 1 - (1 - m_0)(\cos(\pi p) + 1)/2` over training
    progress :math:`p` (:class:`sslcore.contrast.MomentumUpdater`, applied in
    :meth:`on_train_step_end`). The paper's :math:`2 - 2\cos` sum equals :math:`4 + 4\mathcal{L}`.
    Default encoder ``gcn`` (the paper: GCN layers with BatchNorm and PReLU,
    ``--encoder-opt norm=batch_norm``). :meth:`embed` returns :math:`f_\theta(G)`
    ``[num_nodes, output_dim]``.
    """

    minibatch = True  # the loss covers the seed nodes of a sampled subgraph

    domain = "graph"
    signal = "agreement of augmented node views with a bootstrapped momentum target"
    family = "instance-instance"
    negatives = "none"
    min_batch_size = 1

    def __init__(
        self,
        encoder: nn.Module,
        predictor_hidden_dim: Annotated[int, Ge(1)] = 512,
        base_momentum: Annotated[float, Interval(ge=0, le=1)] = 0.99,
        drop_edge_1: Annotated[float, Interval(ge=0, le=1)] = 0.2,
        drop_edge_2: Annotated[float, Interval(ge=0, le=1)] = 0.4,
        mask_feature_1: Annotated[float, Interval(ge=0, le=1)] = 0.3,
        mask_feature_2: Annotated[float, Interval(ge=0, le=1)] = 0.4,
        undirected_views: bool = False,
    ):
        dim = encoder.output_dim
        predictor = nn.Sequential(
            nn.Linear(dim, predictor_hidden_dim),
            nn.BatchNorm1d(predictor_hidden_dim),
            nn.PReLU(),
            nn.Linear(predictor_hidden_dim, dim),
        )
        super().__init__(encoder, head=predictor)
        self.target_encoder = momentum_copy(encoder)
        self.momentum = MomentumUpdater(base_momentum, total_steps=_SCHEDULE_STEPS)
        self.views = edge_and_feature_views(
            (drop_edge_1, drop_edge_2), (mask_feature_1, mask_feature_2), undirected_views
        )

    def forward(self, batch: Data) -> TaskOutput:
        v1, v2 = (view(batch) for view in self.views)
        seeds = seed_nodes(batch)  # all nodes, or a sampled subgraph's seeds (the loss's nodes)
        p1, p2 = self.head(self.encoder(v1)[seeds]), self.head(self.encoder(v2)[seeds])
        with torch.no_grad():
            t1, t2 = self.target_encoder(v1)[seeds], self.target_encoder(v2)[seeds]
        loss = (negative_cosine(p1, t2) + negative_cosine(p2, t1)) / 2
        return TaskOutput(loss)

    def on_train_step_end(self, progress: float) -> None:
        """EMA of the online encoder into the target, momentum at training ``progress``."""
        self.momentum.update(self.target_encoder, self.encoder, step=round(progress * _SCHEDULE_STEPS))
