"""Plumbing shared by the node-level tasks: one graph per step (DGI, GRACE, BGRL, MVGRL,
attribute masking, the auto-encoders), either the full graph or one sampled subgraph
around a batch of seed nodes (``--dataset-opt batch_nodes=...``,
:class:`~sslcore_graph.sampling.NeighborSubgraphs`), and GRACE's pair of stochastic views
(edge dropping + feature-column masking)."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.transforms import Compose

from sslcore.errors import ConfigError
from sslcore_graph.augment import DropEdges, MaskFeatures, make_generator
from sslcore_graph.checks import check_graph
from sslcore_graph.memory import check_full_batch_fits


def is_sampled(graph: Data) -> bool:
    """Whether ``graph`` is a sampled subgraph (it carries ``batch_size``, its seed count)."""
    return getattr(graph, "batch_size", None) is not None


def seed_nodes(graph: Data) -> slice:
    """The rows of a node-level output that enter the loss: ``slice(0, graph.batch_size)``
    for a sampled subgraph (its seed nodes come first), ``slice(None)`` (every node) for a
    full graph. ``h[seed_nodes(graph)]`` is ``[batch_size, d]`` or ``[num_nodes, d]``."""
    return slice(0, int(graph.batch_size)) if is_sampled(graph) else slice(None)


def message_passing_depth(encoder: nn.Module) -> int | None:
    """The number of message-passing layers of ``encoder``: ``len(encoder.convs)`` for the
    plugin's encoders, else the number of PyG ``MessagePassing`` modules in it; None when
    it has none (a user encoder whose depth cannot be told)."""
    convs = getattr(encoder, "convs", None)
    if isinstance(convs, nn.ModuleList):
        return len(convs)
    depth = sum(isinstance(m, MessagePassing) for m in encoder.modules())
    return depth or None


def check_fanout_depth(graph: Data, encoder: nn.Module, task: str) -> None:
    """Raise ``ConfigError`` when the hops sampled around the seeds of ``graph``
    (``len(graph.num_sampled_nodes) - 1``, one per ``fanout`` entry) differ from the
    encoder's message-passing layers: each layer needs one hop of neighbours, and a hop
    more is sampled for nothing. Skipped when either is unknown."""
    hops = getattr(graph, "num_sampled_nodes", None)
    depth = message_passing_depth(encoder)
    if hops is None or depth is None or len(hops) - 1 == depth:
        return
    raise ConfigError(
        f"{task}: the fanout samples {len(hops) - 1} hop(s) of neighbours but the encoder has {depth} "
        f"message-passing layer(s); give one fanout entry per layer, e.g. --dataset-opt "
        f"fanout={[10] * depth} (or change the encoder's num_layers)"
    )


def one_full_graph(samples: list[Data], task: str) -> Data:
    """``[graph] -> graph`` (one graph per step: the full graph with ``batch_size=1``, or
    the one subgraph a :class:`~sslcore_graph.sampling.NeighborSubgraphs` batch gives),
    validated by :func:`~sslcore_graph.checks.check_graph`."""
    if len(samples) != 1:
        raise ValueError(
            f"{task} trains on one full graph per step (batch_size=1), got {len(samples)} graphs"
        )
    check_graph(samples[0], f"{task} input graph")
    return samples[0]


class FullGraphTask:
    """What the node-level tasks share, mixed into a :class:`~sslcore.paradigms.PretextTask`
    (listed first): one graph per step and the encoder's node embeddings. ``label`` names
    the task in error messages (default: the class name)."""

    #: whether the task trains on sampled subgraphs (``--dataset-opt batch_nodes=...``): its
    #: loss covers the seed nodes only (:func:`seed_nodes`); the others train on full graphs
    minibatch: ClassVar[bool] = False

    @property
    def label(self) -> str:
        return type(self).__name__

    def collate(self, samples: list[Data]) -> Data:
        """``[graph] -> graph``: one graph per step. A full graph is first checked to fit in
        memory (:func:`~sslcore_graph.memory.check_full_batch_fits`); a sampled subgraph's
        hop count must match the encoder's depth (:func:`check_fanout_depth`)."""
        graph = one_full_graph(samples, self.label)
        encoder = self.encoder  # type: ignore[attr-defined]
        if is_sampled(graph):
            if not self.minibatch:
                raise ConfigError(
                    f"{self.label} trains on the full graph only: its loss covers every node, and "
                    "the non-seed nodes of a sampled subgraph see a truncated neighbourhood; drop "
                    "the dataset option batch_nodes (mini-batch tasks: dgi, grace, bgrl, graphmae, "
                    "context_prediction)"
                )
            check_fanout_depth(graph, encoder, self.label)
        else:
            check_full_batch_fits(graph, encoder, self.label)
        return graph

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
