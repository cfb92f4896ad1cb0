"""GraphSAGE encoder (Hamilton et al. 2017, "Inductive Representation Learning on Large
Graphs"), full-neighbourhood (no sampling)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Annotated, Any

from annotated_types import Ge, Interval
from torch_geometric.nn import SAGEConv

from sslcore_graph.encoders.message_passing import GraphEncoder, JumpingKnowledge, Readout, in_features_of


def build_sage(
    info: Mapping[str, Any],
    hidden_dim: Annotated[int, Ge(1)] = 256,
    output_dim: Annotated[int, Ge(1)] = 256,
    num_layers: Annotated[int, Ge(1)] = 2,
    aggr: str = "mean",
    activation: str = "relu",
    norm: str | None = None,
    dropout: Annotated[float, Interval(ge=0, le=1)] = 0.0,
    jk: JumpingKnowledge = "last",
    readout: Readout = "mean",
) -> GraphEncoder:
    r"""GraphSAGE: ``num_layers`` ``SAGEConv`` layers (``aggr`` = ``"mean"`` | ``"max"`` |
    ``"sum"`` over the neighbours), each followed by ReLU:

    .. math::
        h_v' = W_1 h_v + W_2 \,\mathrm{aggr}_{u \in \mathcal N(v)} h_u

    Output ``[num_nodes, output_dim]``; ``graph_embed`` ``[num_graphs, output_dim]`` (mean
    readout by default). Edge weights are ignored.
    """
    return GraphEncoder(
        partial(SAGEConv, aggr=aggr), in_features_of(info, "sage"), hidden_dim, output_dim, num_layers,
        activation, norm, dropout, jk, readout, "sage",
    )  # fmt: skip
