"""MVGRL (Hassani & Khasahmadi 2020, "Contrastive Multi-View Representation Learning on
Graphs", ICML), node level."""

from __future__ import annotations

import copy
from typing import Annotated

import torch
from annotated_types import Ge, Gt, Interval
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv

from sslcore.contrast import bce_mi
from sslcore.paradigms import TaskOutput
from sslcore_graph.augment import Diffusion
from sslcore_graph.corruption import shuffle_node_features
from sslcore_graph.tasks.dgi import DeepGraphInfomax


class MVGRL(DeepGraphInfomax):
    r"""Cross-view node-graph mutual information between the adjacency view and a
    diffusion view of one graph.

    Views: :math:`\alpha` = the graph (``encoder`` :math:`f_\alpha`) and :math:`\beta` =
    its diffusion :math:`S` (PPR with ``alpha`` or heat kernel with ``t``, sparsified to an
    average degree ``avg_degree``, default the graph's own; :class:`~sslcore_graph.augment.Diffusion`),
    encoded by a second encoder :math:`f_\beta` (a re-initialised copy of ``encoder``,
    reading the diffusion weights as ``edge_weight``). As in the reference code, a ``gcn``
    encoder aggregates with :math:`S` as it is, :math:`H^\beta = \sigma(S X W)` (its diagonal is
    the self-loop); ``normalize_diffusion=True`` instead normalises :math:`S` symmetrically and
    lets the GCN add self-loops and normalise again (sslcore's behaviour before the option;
    lower on Cora: docs/graph.md, "MVGRL, BGRL, ARGA / ARVGA"). Node embeddings
    :math:`H^\alpha, H^\beta` ``[n, d]``, summaries :math:`s^v = \sigma(\mathrm{mean}_i h^v_i)`
    and DGI's bilinear discriminator :math:`D(h, s) = h^\top W s` and corruption (one row
    permutation of the features shared by both views, giving :math:`\tilde H^\alpha,
    \tilde H^\beta`):

    .. math::
        \mathcal{L} = \mathrm{BCE}\Big(\big[D(h^\beta_i, s^\alpha), D(h^\alpha_i, s^\beta)\big]_i \to 1,\;
            \big[D(\tilde h^\beta_i, s^\alpha), D(\tilde h^\alpha_i, s^\beta)\big]_i \to 0\Big)

    (:func:`sslcore.contrast.bce_mi`). Sub-sampling (the paper's, ``sample_size`` nodes,
    ``num_samples`` samples per step as the reference code's batch of 4): each sample is a
    uniformly random set of ``sample_size`` nodes, the adjacency view is the subgraph they
    induce and the diffusion view the same nodes' block of the *whole graph's* diffusion
    (not a diffusion of the subgraph); the loss is the mean over the samples. With
    ``sample_size=None`` (or at least the graph's size) one step is the whole graph,
    ``n = N``. :meth:`embed` returns :math:`H^\alpha + H^\beta` ``[num_nodes, d]`` of the
    whole graph (the paper). The diffusion of the last graph seen is cached (keyed by its
    ``edge_index`` / ``edge_weight`` tensors), so training on one graph computes it once.

    Options: ``sample_size``: nodes per training sample (None: the whole graph per step).
    ``num_samples``: samples per step (the reference code's batch, 4).
    ``avg_degree``: average degree the diffusion is sparsified to (None: the graph's own).
    ``normalize_diffusion``: renormalise the diffusion view (see above; default False, the paper).
    """

    minibatch = False  # its diffusion view is of the whole graph (or of its own samples)

    signal = "cross-view node-graph mutual information (adjacency vs. diffusion)"
    label = "MVGRL"

    def __init__(
        self,
        encoder: nn.Module,
        diffusion: str = "ppr",
        alpha: Annotated[float, Interval(gt=0, le=1)] = 0.2,
        t: Annotated[float, Gt(0)] = 5.0,
        avg_degree: Annotated[int, Ge(1)] | None = None,
        sample_size: Annotated[int, Ge(2)] | None = None,
        num_samples: Annotated[int, Ge(1)] = 4,
        normalize_diffusion: bool = False,
    ):
        super().__init__(encoder)
        # a copy of the encoder, independently re-initialised (every submodule with reset_parameters)
        self.diffusion_encoder = copy.deepcopy(encoder)
        for m in self.diffusion_encoder.modules():
            if m is not self.diffusion_encoder and hasattr(m, "reset_parameters"):
                m.reset_parameters()
            if isinstance(m, GCNConv) and not normalize_diffusion:
                m.normalize = False  # S's weights as they are, no added self-loops
        self.diffusion, self.alpha, self.t, self.avg_degree = diffusion, alpha, t, avg_degree
        self.sample_size, self.num_samples = sample_size, num_samples
        self.normalize_diffusion = normalize_diffusion
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
            normalization = "sym" if self.normalize_diffusion else None
            diffusion = Diffusion(
                self.diffusion, alpha=self.alpha, t=self.t, avg_degree=degree, normalization=normalization
            )
            diffused = diffusion(structure)
            cache = self._cache = (graph.edge_index, weight, n, diffused)
        view = copy.copy(graph)
        view.edge_index, view.edge_weight = cache[3].edge_index, cache[3].edge_weight
        return view

    def views(self, graph: Data) -> list[tuple[Data, Data]]:
        """The ``(adjacency view, diffusion view)`` pairs of one training step: the whole
        graph, or ``num_samples`` node samples of ``sample_size`` nodes (see the class
        docstring); both views of a pair hold the same nodes in the same order."""
        diffused = self.diffusion_view(graph)
        n = int(graph.num_nodes)
        if self.sample_size is None or self.sample_size >= n:
            return [(graph, diffused)]
        pairs = []
        for _ in range(self.num_samples):
            nodes = torch.randperm(n, device=graph.edge_index.device)[: self.sample_size]
            pairs.append((graph.subgraph(nodes), diffused.subgraph(nodes)))
        return pairs

    def contrast(self, adjacency: Data, diffused: Data) -> tuple[Tensor, Tensor]:
        """``(loss, discriminator accuracy)`` of one pair of views (the class formula)."""
        corrupted = shuffle_node_features(adjacency)
        corrupted_diffused = copy.copy(diffused)
        corrupted_diffused.x = corrupted.x  # the same permutation in both views
        h_a, h_b = self.encoder(adjacency), self.diffusion_encoder(diffused)
        c_a, c_b = self.encoder(corrupted), self.diffusion_encoder(corrupted_diffused)
        s_a, s_b = self.summary(h_a), self.summary(h_b)
        pos = torch.cat([self.discriminate(h_b, s_a), self.discriminate(h_a, s_b)])
        neg = torch.cat([self.discriminate(c_b, s_a), self.discriminate(c_a, s_b)])
        accuracy = torch.cat([(pos > 0).float(), (neg < 0).float()]).mean()
        return bce_mi(pos, neg), accuracy

    def forward(self, batch: Data) -> TaskOutput:
        losses, accuracies = zip(*(self.contrast(a, b) for a, b in self.views(batch)))
        return TaskOutput(torch.stack(losses).mean(), {"disc_acc": torch.stack(accuracies).mean()})

    def embed(self, inputs: Data) -> Tensor:
        """:math:`H^\\alpha + H^\\beta` ``[num_nodes, output_dim]``."""
        return super().embed(inputs) + self.diffusion_encoder(self.diffusion_view(inputs))
