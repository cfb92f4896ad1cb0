r"""The shared graph encoder of ``gcn``, ``gin``, ``gat`` and ``sage``: a stack of PyG
message-passing layers with a readout. ``forward`` gives node embeddings
``[num_nodes, output_dim]``, ``readout`` / ``graph_embed`` ``[num_graphs, output_dim]``;
the contract is spelled out in plugins/graph/README.md, "The encoder contract".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from inspect import signature
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.resolver import activation_resolver, normalization_resolver

from sslcore.data import info_get

Readout = Literal["sum", "mean", "max"]
JumpingKnowledge = Literal["last", "cat"]

READOUTS: dict[str, Callable[..., Tensor]] = {
    "sum": global_add_pool,
    "mean": global_mean_pool,
    "max": global_max_pool,
}


class GraphEncoder(nn.Module):
    r"""``num_layers`` message-passing layers, each followed by an optional
    normalisation and an activation (also after the last layer, as DGI, GRACE and GraphCL):

    .. math::
        h^{(l+1)} = \sigma\big(\mathrm{norm}(\mathrm{conv}_l(h^{(l)}, A))\big), \qquad h^{(0)} = X

    Layer widths: ``hidden_dim`` for every layer but the last, ``output_dim`` for the last.
    ``jk="last"`` returns :math:`h^{(L)}` (``self.output_dim = output_dim``); ``jk="cat"``
    (jumping knowledge, GIN / InfoGraph / GraphCL) concatenates every layer,
    :math:`[h^{(1)} \| \dots \| h^{(L)}]` (``self.output_dim = (L - 1) * hidden_dim +
    output_dim``). Inputs and outputs: see the module docstring.

    Args:
        make_conv: ``(in_dim, out_dim) -> MessagePassing``, called once per layer.
        in_features: width of ``x``.
        activation: a ``torch_geometric.nn.resolver.activation_resolver`` name (``"relu"``,
            ``"prelu"``, ``"elu"``, ...); one module per layer.
        norm: ``None`` or a ``normalization_resolver`` name (``"batch_norm"``,
            ``"layer_norm"``, ``"graph_norm"``, ...). With ``"batch_norm"`` a training batch
            needs more than one node.
        dropout: dropout on each layer's output (training only).
    """

    def __init__(
        self,
        make_conv: Callable[[int, int], MessagePassing],
        in_features: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        activation: str = "relu",
        norm: str | None = None,
        dropout: float = 0.0,
        jk: JumpingKnowledge = "last",
        readout: Readout = "sum",
        name: str = "graph encoder",
    ):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"{name}: num_layers must be >= 1, got {num_layers}")
        if readout not in READOUTS:
            raise ValueError(f"{name}: readout must be one of {sorted(READOUTS)}, got {readout!r}")
        if jk not in ("last", "cat"):
            raise ValueError(f"{name}: jk must be 'last' or 'cat', got {jk!r}")
        sizes = [in_features] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.convs = nn.ModuleList(make_conv(i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        self.norms = nn.ModuleList(
            normalization_resolver(norm, o) if norm else nn.Identity() for o in sizes[1:]
        )
        self.acts = nn.ModuleList(activation_resolver(activation) for _ in sizes[1:])
        # PyG's graph-wise norms (LayerNorm(mode="graph"), GraphNorm, ...) take the batch vector
        self._norm_takes_batch = ["batch" in signature(n.forward).parameters for n in self.norms]
        self.dropout = nn.Dropout(dropout)
        self.jk, self.readout_mode, self.name = jk, readout, name
        self.output_dim = sum(sizes[1:]) if jk == "cat" else output_dim

    def adjacency(self, data: Data) -> Any:
        """What the convolutions aggregate over; ``edge_index`` here (``gcn`` overrides it
        with a sparse weighted adjacency)."""
        return data.edge_index

    def forward(self, data: Data) -> Tensor:
        """Node embeddings ``[num_nodes, output_dim]``."""
        if getattr(data, "x", None) is None:
            raise ValueError(
                f"{self.name}: the graph has no node features (x is None); give it features first "
                "(graph datasets do: dataset option missing_features='degree'|'constant')"
            )
        h, adj, batch = data.x, self.adjacency(data), getattr(data, "batch", None)
        layers = []
        for conv, norm, act, takes_batch in zip(self.convs, self.norms, self.acts, self._norm_takes_batch):
            h = conv(h, adj)
            h = norm(h, batch) if takes_batch else norm(h)
            h = self.dropout(act(h))
            layers.append(h)
        return h if self.jk == "last" else torch.cat(layers, dim=-1)

    def readout(self, data: Data, node_states: Tensor) -> Tensor:
        """Pool ``node_states`` ``[num_nodes, d]`` into ``[num_graphs, d]`` (one graph when
        ``data`` has no ``batch`` vector) with ``self.readout_mode``."""
        batch = getattr(data, "batch", None)
        size = int(data.num_graphs) if isinstance(data, Batch) else None
        return READOUTS[self.readout_mode](node_states, batch, size=size)

    def graph_embed(self, data: Data) -> Tensor:
        """Graph embeddings ``[num_graphs, output_dim]``: ``readout(data, forward(data))``."""
        return self.readout(data, self(data))


def in_features_of(info: Mapping[str, Any], encoder: str) -> int:
    """``info["num_features"]`` with a message naming the encoder when it is missing."""
    return int(info_get(info, "num_features", f" (the {encoder} encoder needs a graph dataset)"))
