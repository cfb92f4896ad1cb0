"""Graph attention encoder (Veličković et al. 2018, "Graph Attention Networks")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

import torch.nn.functional as F
from annotated_types import Ge, Interval
from torch import Tensor, nn
from torch_geometric.nn import GATConv

from sslcore_graph.encoders.message_passing import GraphEncoder, JumpingKnowledge, Readout, in_features_of

GATInit = Literal["glorot", "xavier_normal"]
GAT_INITS = get_args(GATInit)


def xavier_normal_gat_(conv: GATConv) -> None:
    """Re-initialise any PyG ``GATConv`` in place as the GAT / GraphMAE reference code:
    ``xavier_normal_(gain=calculate_gain("relu"))`` on the linear weights (``lin`` or
    ``lin_src`` / ``lin_dst``, the residual ``res``) and the attention vectors, bias zero."""
    gain = nn.init.calculate_gain("relu")
    for lin in (conv.lin, conv.lin_src, conv.lin_dst, conv.res):
        if lin is not None:
            nn.init.xavier_normal_(lin.weight, gain=gain)
    nn.init.xavier_normal_(conv.att_src, gain=gain)
    nn.init.xavier_normal_(conv.att_dst, gain=gain)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class GATLayer(GATConv):
    r"""PyG's ``GATConv`` whose input features are first dropped out with probability
    ``input_dropout`` (training only): :math:`h' = \mathrm{GAT}(\mathrm{dropout}(h), A)`,
    the GAT paper's and GraphMAE's ``in_drop`` / ``feat_drop``. ``input_dropout=0`` and
    ``init="glorot"`` is ``GATConv`` exactly (same parameters, state-dict keys and draws).

    ``init="xavier_normal"`` initialises as the GAT and GraphMAE reference code (DGL's
    ``GATConv``): :math:`W, a_{src}, a_{dst}` and the residual projection from
    :math:`\mathcal N(0, g^2 \cdot 2 / (\text{fan}_{in} + \text{fan}_{out}))` with gain
    :math:`g = \sqrt 2` (``calculate_gain("relu")``), bias zero; PyG's ``"glorot"`` draws
    them from a uniform of gain 1, :math:`\sqrt 2` times narrower."""

    def __init__(self, *args: Any, input_dropout: float = 0.0, init: GATInit = "glorot", **kwargs: Any):
        if init not in GAT_INITS:
            raise ValueError(f"gat: init must be one of {GAT_INITS}, got {init!r}")
        super().__init__(*args, **kwargs)  # GATConv's glorot initialisation
        self.input_dropout, self.init = input_dropout, init
        if init != "glorot":
            self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if getattr(self, "init", "glorot") == "xavier_normal":  # unset while GATConv.__init__ runs
            xavier_normal_gat_(self)

    def forward(self, x: Tensor, edge_index: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if self.input_dropout > 0:
            x = F.dropout(x, self.input_dropout, self.training)
        return super().forward(x, edge_index, *args, **kwargs)


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
    input_dropout: Annotated[float, Interval(ge=0, lt=1)] = 0.0,
    residual: bool = False,
    negative_slope: Annotated[float, Ge(0)] = 0.2,
    init: GATInit = "glorot",
) -> GraphEncoder:
    r"""GAT: ``num_layers`` ``GATConv`` layers of ``heads`` attention heads whose outputs are
    concatenated (each head ``width // heads`` units, so ``hidden_dim`` and ``output_dim``
    must be divisible by ``heads``), each layer followed by the optional ``norm`` and the
    ``activation`` (ELU by default, also after the last layer):

    .. math::
        h_v' = \sigma\Big(\big\Vert_{k=1}^{K} \sum_{u \in \mathcal N(v) \cup \{v\}}
            \alpha^k_{vu} W^k \tilde h_u \;[+\, W_r \tilde h_v]\Big), \qquad
        \alpha^k_{vu} = \mathrm{softmax}_u\big(\mathrm{LeakyReLU}_{s}(a^{k\top}[W^k \tilde h_v \Vert
            W^k \tilde h_u])\big)

    Options beyond the shared ones (``dropout`` drops each layer's *output*):

    - ``input_dropout``: dropout on each layer's *input* :math:`\tilde h = \mathrm{dropout}(h)`
      (the GAT paper's and GraphMAE's ``in_drop``; none after the last layer);
    - ``attention_dropout``: dropout on the attention coefficients :math:`\alpha` (``attn_drop``);
    - ``residual``: add a linear projection of the layer's input (``GATConv(residual=True)``);
    - ``negative_slope`` :math:`s` of the attention's LeakyReLU (0.2);
    - ``init``: ``"glorot"`` (PyG's) or ``"xavier_normal"`` (the GAT / GraphMAE reference
      code's, :math:`\sqrt 2` times wider; see :class:`GATLayer`).

    GraphMAE's Cora encoder is ``hidden_dim=output_dim=512, heads=4, activation="prelu",
    input_dropout=0.2, attention_dropout=0.1, init="xavier_normal"``. Output ``[num_nodes, output_dim]``;
    ``graph_embed`` ``[num_graphs, output_dim]`` (mean readout by default). Edge weights are
    ignored.
    """
    for what, width in (("hidden_dim", hidden_dim), ("output_dim", output_dim)):
        if heads < 1 or width % heads:
            raise ValueError(f"gat: {what}={width} must be divisible by heads={heads}")
    if not 0 <= input_dropout < 1:
        raise ValueError(f"gat: input_dropout must be in [0, 1), got {input_dropout}")

    def make_conv(i: int, o: int) -> GATConv:
        return GATLayer(
            i, o // heads, heads=heads, concat=True, dropout=attention_dropout,
            negative_slope=negative_slope, residual=residual, input_dropout=input_dropout, init=init,
        )  # fmt: skip

    return GraphEncoder(
        make_conv, in_features_of(info, "gat"), hidden_dim, output_dim, num_layers,
        activation, norm, dropout, jk, readout, "gat",
    )  # fmt: skip
