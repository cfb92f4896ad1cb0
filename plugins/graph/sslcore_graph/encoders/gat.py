"""Graph attention encoder (Veličković et al. 2018, "Graph Attention Networks")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from annotated_types import Ge, Interval
from torch_geometric.nn import GATConv

from sslcore_graph.encoders.message_passing import GraphEncoder, JumpingKnowledge, Readout, in_features_of


def build_gat(
    info: Mapping[str, Any],
    hidden_dim: Annotated[int, Ge(1)] = 256,
    output_dim: Annotated[int, Ge(1)] = 256,
    num_layers: Annotated[int, Ge(1)] = 2,
    heads: Annotated[int, Ge(1)] = 4,
    attention_dropout: Annotated[float, Interval(ge=0, le=1)] = 0.0,
    activation: str = "elu",
    norm: str | None = None,
    dropout: Annotated[float, Interval(ge=0, le=1)] = 0.0,
    jk: JumpingKnowledge = "last",
    readout: Readout = "mean",
) -> GraphEncoder:
    r"""GAT: ``num_layers`` ``GATConv`` layers of ``heads`` attention heads whose outputs are
    concatenated (each head ``width // heads`` units, so ``hidden_dim`` and ``output_dim``
    must be divisible by ``heads``), each layer followed by ELU:

    .. math::
        h_v' = \big\Vert_{k=1}^{K} \sum_{u \in \mathcal N(v) \cup \{v\}} \alpha^k_{vu} W^k h_u

    Output ``[num_nodes, output_dim]``; ``graph_embed`` ``[num_graphs, output_dim]`` (mean
    readout by default). Edge weights are ignored.
    """
    for what, width in (("hidden_dim", hidden_dim), ("output_dim", output_dim)):
        if heads < 1 or width % heads:
            raise ValueError(f"gat: {what}={width} must be divisible by heads={heads}")

    def make_conv(i: int, o: int) -> GATConv:
        return GATConv(i, o // heads, heads=heads, concat=True, dropout=attention_dropout)

    return GraphEncoder(
        make_conv, in_features_of(info, "gat"), hidden_dim, output_dim, num_layers,
        activation, norm, dropout, jk, readout, "gat",
    )  # fmt: skip
