"""GRACE (Zhu et al. 2020, "Deep Graph Contrastive Representation Learning", ICML GRL+
workshop)."""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Gt, Interval
from torch import Tensor, nn
from torch_geometric.data import Data

from sslcore.contrast import nt_xent
from sslcore.paradigms import ContrastiveTask, TaskOutput
from sslcore_graph.tasks.node_views import FullGraphTask, edge_and_feature_views, seed_nodes


class GRACE(FullGraphTask, ContrastiveTask):
    r"""Node-level contrast between two augmented views of one graph.

    Views :math:`t_1, t_2`: edge dropping (rates ``drop_edge_1``, ``drop_edge_2``) and
    feature-column masking (``mask_feature_1``, ``mask_feature_2``); node embeddings
    :math:`U = g(f(t_1(G)))`, :math:`V = g(f(t_2(G)))` ``[N, proj_dim]`` with the encoder
    :math:`f` and the projection head :math:`g` (Linear-ELU-Linear). With
    :math:`\theta(a, b) = \cos(a, b) / \tau`,

    .. math::
        \ell(u_i, v_i) = -\log \frac{e^{\theta(u_i, v_i)}}{e^{\theta(u_i, v_i)}
            + \sum_{k \ne i} e^{\theta(u_i, v_k)} + \sum_{k \ne i} e^{\theta(u_i, u_k)}},
        \qquad
        \mathcal{L} = \frac{1}{2N} \sum_{i=1}^{N} \big[\ell(u_i, v_i) + \ell(v_i, u_i)\big]

    (inter-view and intra-view negatives, symmetric). This is NT-Xent over the 2N node
    views with the self-similarity excluded, so the loss is
    :func:`sslcore.contrast.nt_xent` ``(U, V, temperature=tau)``.

    ``undirected_views=False`` drops each directed edge independently (the reference code's
    ``dropout_adj``); ``True`` keeps the views of an undirected graph undirected.

    Defaults are the paper's Cora settings (p_e = 0.2 / 0.4, p_f = 0.3 / 0.4, tau = 0.4,
    projection 128 -> 128); its encoder is ``gcn`` with ``num_layers=2, hidden_dim=256,
    output_dim=128, activation="relu"``. One batch is one full graph; :meth:`embed`
    returns :math:`f(G)` ``[num_nodes, output_dim]``. Mini-batch (``--dataset-opt
    batch_nodes=B``): both views are drawn from the same sampled subgraph and the loss runs
    over its ``B`` seed nodes (:func:`~sslcore_graph.tasks.node_views.seed_nodes`), the
    other seeds being the negatives.
    """

    minibatch = True  # the loss covers the seed nodes of a sampled subgraph

    domain = "graph"
    signal = "node identity across two augmented views"
    family = "instance-instance"
    negatives = "end-to-end"
    min_batch_size = 1  # one graph; its other nodes are the negatives

    def __init__(
        self,
        encoder: nn.Module,
        proj_hidden_dim: Annotated[int, Ge(1)] = 128,
        proj_dim: Annotated[int, Ge(1)] = 128,
        temperature: Annotated[float, Gt(0)] = 0.4,
        drop_edge_1: Annotated[float, Interval(ge=0, le=1)] = 0.2,
        drop_edge_2: Annotated[float, Interval(ge=0, le=1)] = 0.4,
        mask_feature_1: Annotated[float, Interval(ge=0, le=1)] = 0.3,
        mask_feature_2: Annotated[float, Interval(ge=0, le=1)] = 0.4,
        undirected_views: bool = False,
    ):
        dim = encoder.output_dim
        head = nn.Sequential(nn.Linear(dim, proj_hidden_dim), nn.ELU(), nn.Linear(proj_hidden_dim, proj_dim))
        super().__init__(encoder, head=head)
        self.temperature = temperature
        self.views = edge_and_feature_views(
            (drop_edge_1, drop_edge_2), (mask_feature_1, mask_feature_2), undirected_views
        )

    def project(self, graph: Data) -> Tensor:
        """:math:`g(f(G))` of the seed nodes: ``[num_nodes, proj_dim]`` for a full graph,
        ``[batch_size, proj_dim]`` for a sampled subgraph."""
        return self.head(self.encoder(graph)[seed_nodes(graph)])

    def forward(self, batch: Data) -> TaskOutput:
        u, v = (self.project(view(batch)) for view in self.views)
        return TaskOutput(nt_xent(u, v, temperature=self.temperature))
