"""Graph Isomorphism Network encoder (Xu et al. 2019, "How Powerful are Graph Neural
Networks?"), configured as InfoGraph / GraphCL use it."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Annotated, Any

from annotated_types import Ge, Interval
from torch import nn
from torch_geometric.nn import GINConv

from sslcore_graph.encoders.message_passing import GraphEncoder, JumpingKnowledge, Readout, in_features_of


def gin_conv(in_dim: int, out_dim: int, train_eps: bool = False) -> GINConv:
    r"""``GINConv`` with a two-layer MLP: :math:`h_v' = \mathrm{MLP}\big((1 + \epsilon) h_v +
    \sum_{u \in \mathcal N(v)} h_u\big)`, MLP = Linear-ReLU-Linear."""
    mlp = nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim))
    return GINConv(mlp, train_eps=train_eps)


def build_gin(
    info: Mapping[str, Any],
    hidden_dim: Annotated[int, Ge(1)] = 32,
    output_dim: Annotated[int, Ge(1)] = 32,
    num_layers: Annotated[int, Ge(1)] = 5,
    activation: str = "relu",
    norm: str | None = "batch_norm",
    dropout: Annotated[float, Interval(ge=0, le=1)] = 0.0,
    jk: JumpingKnowledge = "cat",
    readout: Readout = "sum",
    train_eps: bool = False,
) -> GraphEncoder:
    r"""GIN: ``num_layers`` ``GINConv`` (MLP Linear-ReLU-Linear) layers, each followed by
    BatchNorm and ReLU; by default every layer's node states are concatenated (``jk="cat"``)
    and graphs are sum-pooled (InfoGraph / GraphCL: 5 layers of 32 units, output
    ``[num_nodes, 160]`` and ``graph_embed`` ``[num_graphs, 160]``).

    Edge weights are ignored. With BatchNorm, a training batch needs more than one node.
    """
    return GraphEncoder(
        partial(gin_conv, train_eps=train_eps), in_features_of(info, "gin"), hidden_dim, output_dim, num_layers,
        activation, norm, dropout, jk, readout, "gin",
    )  # fmt: skip
