"""Plumbing shared by the node-level tasks: one full graph per step (DGI, GRACE, BGRL,
MVGRL, attribute masking, the auto-encoders) and GRACE's pair of stochastic views (edge
dropping + feature-column masking)."""

from __future__ import annotations

from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import Compose

from sslcore_graph.augment import DropEdges, MaskFeatures, make_generator
from sslcore_graph.checks import check_graph


def one_full_graph(samples: list[Data], task: str) -> Data:
    """``[graph] -> graph`` (full-graph training, ``batch_size=1``), validated by
    :func:`~sslcore_graph.checks.check_graph`."""
    if len(samples) != 1:
        raise ValueError(
            f"{task} trains on one full graph per step (batch_size=1), got {len(samples)} graphs"
        )
    check_graph(samples[0], f"{task} input graph")
    return samples[0]


class FullGraphTask:
    """What the node-level tasks share, mixed into a :class:`~sslcore.paradigms.PretextTask`
    (listed first): one full graph per step and the encoder's node embeddings. ``label``
    names the task in error messages (default: the class name)."""

    @property
    def label(self) -> str:
        return type(self).__name__

    def collate(self, samples: list[Data]) -> Data:
        """``[graph] -> graph``: full-graph training, one graph per step."""
        return one_full_graph(samples, self.label)

    def embed(self, inputs: Data) -> Tensor:
        """Node embeddings ``[num_nodes, output_dim]`` of a graph."""
        check_graph(inputs, f"{self.label} input graph")
        return self.encoder(inputs)  # type: ignore[attr-defined]


def edge_and_feature_views(
    drop_edge: tuple[float, float],
    mask_feature: tuple[float, float],
    undirected: bool = False,
) -> tuple[Compose, Compose]:
    r"""GRACE's two views :math:`t_k = \text{MaskFeatures}(p_{f,k}) \circ \text{DropEdges}(p_{e,k})`,
    ``k = 1, 2``, sharing one generator seeded from torch's global RNG. ``undirected=False``
    drops every directed edge on its own, as GRACE's and BGRL's reference code
    (``dropout_adj``), so a view of an undirected graph is directed; ``True`` drops both
    directions of a pair together."""
    gen = make_generator(None)
    return tuple(  # type: ignore[return-value]
        Compose([DropEdges(pe, undirected=undirected, generator=gen), MaskFeatures(pf, generator=gen)])
        for pe, pf in zip(drop_edge, mask_feature)
    )
