"""MVGRL (Hassani & Khodadadeh 2020, "Contrastive Multi-View Representation Learning on
Graphs", ICML), node level."""

from __future__ import annotations

import copy
from typing import Annotated

import torch
from annotated_types import Ge, Gt, Interval
from torch import Tensor, nn
from torch_geometric.data import Data

from sslcore.contrast import bce_mi
from sslcore.paradigms import TaskOutput
from sslcore_graph.augment import Diffusion
from sslcore_graph.corruption import shuffle_node_features
from sslcore_graph.tasks.dgi import DeepGraphInfomax


class MVGRL(DeepGraphInfomax):
    r"""Cross-view node-graph mutual information between the adjacency view and a
    diffusion view of one graph.

    Views: :math:`\alpha` = the graph (``encoder`` :math:`f_\alpha`) and :math:`\beta` =
    its diffusion (PPR with ``alpha`` or heat kernel with ``t``, sparsified to the
    graph's average degree unless ``avg_degree`` is given; :class:`~sslcore_graph.augment.Diffusion`),
    encoded by a second encoder :math:`f_\beta` (a re-initialised copy of ``encoder``,
    reading the diffusion weights as ``edge_weight``). Node embeddings
    :math:`H^\alpha, H^\beta` ``[N, d]``, summaries :math:`s^v = \sigma(\mathrm{mean}_i h^v_i)`
    and DGI's bilinear discriminator :math:`D(h, s) = h^\top W s` and corruption (one row
    permutation of the features shared by both views, giving :math:`\tilde H^\alpha,
    \tilde H^\beta`):

    .. math::
        \mathcal{L} = \mathrm{BCE}\Big(\big[D(h^\beta_i, s^\alpha), D(h^\alpha_i, s^\beta)\big]_i \to 1,\;
            \big[D(\tilde h^\beta_i, s^\alpha), D(\tilde h^\alpha_i, s^\beta)\big]_i \to 0\Big)

    (:func:`sslcore.contrast.bce_mi`). :meth:`embed` returns :math:`H^\alpha + H^\beta`
    ``[num_nodes, d]`` (the paper). The diffusion of the last graph seen is cached (keyed
    by its ``edge_index`` / ``edge_weight`` tensors), so full-graph training computes it once.
    """

    signal = "cross-view node-graph mutual information (adjacency vs. diffusion)"
    label = "MVGRL"

    def __init__(
        self,
        encoder: nn.Module,
        diffusion: str = "ppr",
        alpha: Annotated[float, Interval(gt=0, le=1)] = 0.2,
        t: Annotated[float, Gt(0)] = 5.0,
        avg_degree: Annotated[int, Ge(1)] | None = None,
    ):
        super().__init__(encoder)
        # a copy of the encoder, independently re-initialised (every submodule with reset_parameters)
        self.diffusion_encoder = copy.deepcopy(encoder)
        for m in self.diffusion_encoder.modules():
            if m is not self.diffusion_encoder and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        self.diffusion, self.alpha, self.t, self.avg_degree = diffusion, alpha, t, avg_degree
        Diffusion(diffusion)  # validates the method name early
        self._cache: tuple[Tensor, Tensor | None, int, Data] | None = None

    def diffusion_view(self, graph: Data) -> Data:
        """``graph`` with the diffusion's weighted edges (``edge_index``, ``edge_weight``)."""
        weight = getattr(graph, "edge_weight", None)
        cache = self._cache
        if (
            cache is None
            or cache[0] is not graph.edge_index
            or cache[1] is not weight
            or cache[2] != graph.num_nodes
        ):
            n = int(graph.num_nodes)
            degree = self.avg_degree or max(1, round(graph.edge_index.shape[1] / n))
            structure = Data(edge_index=graph.edge_index, edge_weight=weight, num_nodes=n)
            diffused = Diffusion(self.diffusion, alpha=self.alpha, t=self.t, avg_degree=degree)(structure)
            cache = self._cache = (graph.edge_index, weight, n, diffused)
        view = copy.copy(graph)
        view.edge_index, view.edge_weight = cache[3].edge_index, cache[3].edge_weight
        return view

    def forward(self, batch: Data) -> TaskOutput:
        diffused = self.diffusion_view(batch)
        corrupted = shuffle_node_features(batch)
        corrupted_diffused = copy.copy(diffused)
        corrupted_diffused.x = corrupted.x  # the same permutation in both views
        h_a, h_b = self.encoder(batch), self.diffusion_encoder(diffused)
        c_a, c_b = self.encoder(corrupted), self.diffusion_encoder(corrupted_diffused)
        s_a, s_b = self.summary(h_a), self.summary(h_b)
        pos = torch.cat([self.discriminate(h_b, s_a), self.discriminate(h_a, s_b)])
        neg = torch.cat([self.discriminate(c_b, s_a), self.discriminate(c_a, s_b)])
        accuracy = torch.cat([(pos > 0).float(), (neg < 0).float()]).mean()
        return TaskOutput(bce_mi(pos, neg), {"disc_acc": accuracy})

    def embed(self, inputs: Data) -> Tensor:
        """:math:`H^\\alpha + H^\\beta` ``[num_nodes, output_dim]``."""
        return super().embed(inputs) + self.diffusion_encoder(self.diffusion_view(inputs))
