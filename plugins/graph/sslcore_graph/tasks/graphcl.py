"""GraphCL (You et al. 2020, "Graph Contrastive Learning with Augmentations", NeurIPS),
graph level."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Annotated, Literal

import torch
from annotated_types import Ge, Gt, Interval
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from sslcore.contrast import nt_xent
from sslcore.paradigms import ContrastiveTask, TaskOutput
from sslcore_graph.checks import check_graph
from sslcore_graph.tasks._graph_views import AUGMENTATIONS
from sslcore_graph.tasks.graph_level import graph_embeddings


class GraphCL(ContrastiveTask):
    r"""Agreement between two augmented views of each graph.

    Every graph gets two views :math:`t_1(G), t_2(G)`, each augmentation drawn uniformly
    (per graph and per view) from ``augmentations`` (GraphCL's four: node dropping, edge
    perturbation, attribute masking, random-walk subgraph; ``aug_ratio`` 0.2 as the
    reference). With the encoder's graph embedding :math:`f` (GIN with a sum readout of
    every layer) and the projection head :math:`g` (Linear-ReLU-Linear, as the reference):

    .. math::
        z_i^{(1)} = g(f(t_1(G_i))), \quad z_i^{(2)} = g(f(t_2(G_i))), \qquad
        \mathcal{L} = \text{NT-Xent}_\tau(z^{(1)}, z^{(2)})

    over the :math:`2N` views of a batch of :math:`N` graphs, :math:`\tau = 0.2` (the
    reference code's ``T``).

    ``mask_token``: what attribute masking puts in a masked node's row, ``"noise"``
    (:math:`\mathcal N(0.5, 0.5^2)`, the reference's TU code) or ``"zero"`` (its Cora code,
    for high-dimensional sparse features). ``keep_centre``: node 0 is never dropped,
    masked or left out of a subgraph (for ego-networks labelled by their centre, node 0;
    see :mod:`sslcore_graph.tasks._graph_views`).

    :meth:`embed` returns :math:`f(G)` ``[num_graphs, d]`` (node embeddings
    ``[num_nodes, d]`` for a single ``Data`` with a node-level encoder).
    """

    domain = "graph"
    signal = "graph identity across augmentations"
    family = "instance-instance"
    negatives = "end-to-end"

    def __init__(
        self,
        encoder: nn.Module,
        augmentations: Sequence[str] = ("drop_nodes", "perturb_edges", "mask_attributes", "subgraph"),
        aug_ratio: Annotated[float, Interval(ge=0, lt=1)] = 0.2,
        proj_dim: Annotated[int, Ge(1)] | None = None,
        temperature: Annotated[float, Gt(0)] = 0.2,
        mask_token: Literal["noise", "zero"] = "noise",
        keep_centre: bool = False,
    ):
        dim = encoder.output_dim
        proj_dim = proj_dim or dim
        super().__init__(
            encoder, head=nn.Sequential(nn.Linear(dim, proj_dim), nn.ReLU(), nn.Linear(proj_dim, proj_dim))
        )
        unknown = [a for a in augmentations if a not in AUGMENTATIONS]
        if unknown or not augmentations:
            raise ValueError(f"graphcl: augmentations must be a non-empty subset of {sorted(AUGMENTATIONS)}")
        if not 0 <= aug_ratio < 1:
            raise ValueError(f"graphcl: aug_ratio must be in [0, 1), got {aug_ratio}")
        if mask_token not in ("noise", "zero"):
            raise ValueError(f"graphcl: mask_token must be 'noise' or 'zero', got {mask_token!r}")
        self.augmentations, self.aug_ratio, self.temperature = tuple(augmentations), aug_ratio, temperature
        self.mask_token, self.keep_centre = mask_token, keep_centre
        self._views = {
            name: partial(AUGMENTATIONS[name], keep_centre=keep_centre)
            if name != "mask_attributes"
            else partial(AUGMENTATIONS[name], keep_centre=keep_centre, token=mask_token)
            for name in self.augmentations
        }

    def augment(self, graph: Data) -> Data:
        """One view: an augmentation drawn uniformly from ``augmentations``."""
        name = self.augmentations[int(torch.randint(len(self.augmentations), ()))]
        view = self._views[name](graph, self.aug_ratio)
        view.num_nodes = view.num_nodes  # stored on every view, so any mix of views batches
        return view

    def collate(self, samples: list[Data]) -> tuple[Batch, Batch]:
        """``[graph] -> (views 1, views 2)``, two ``Batch`` es, row ``i`` of each from graph ``i``."""
        for i, g in enumerate(samples):
            check_graph(g, f"GraphCL input graph {i}")
        return (
            Batch.from_data_list([self.augment(g) for g in samples]),
            Batch.from_data_list([self.augment(g) for g in samples]),
        )

    def forward(self, batch: tuple[Batch, Batch]) -> TaskOutput:
        z1, z2 = (self.head(graph_embeddings(self.encoder, views)) for views in batch)
        return TaskOutput(nt_xent(z1, z2, temperature=self.temperature))

    def embed(self, inputs: Batch | Data) -> Tensor:
        if not isinstance(inputs, Batch):
            return self.encoder(inputs)
        return graph_embeddings(self.encoder, inputs)
