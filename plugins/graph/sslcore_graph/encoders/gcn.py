"""Graph convolutional encoder (Kipf & Welling 2017) as configured in Deep Graph Infomax."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv
from torch_geometric.utils import to_torch_csr_tensor

from sslcore.data import info_get


def sparse_adjacency(data: Data) -> Tensor:
    """Transposed adjacency ``adj_t[target, source]`` ``[N, N]`` as a CSR tensor (with
    ``edge_weight`` as values when present). ``GCNConv`` then aggregates with one sparse
    matmul, faster on CPU than the gather/scatter path of ``edge_index``."""
    num_nodes = data.num_nodes
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        with torch.sparse.check_sparse_tensor_invariants():
            return to_torch_csr_tensor(
                data.edge_index.flip(0), getattr(data, "edge_weight", None), size=(num_nodes, num_nodes)
            )


class GCNEncoder(nn.Module):
    r"""Stack of ``num_layers`` PyG ``GCNConv`` layers, each followed by PReLU:

    .. math::
        H^{(l+1)} = \mathrm{PReLU}\big(\hat D^{-1/2} \hat A \hat D^{-1/2} H^{(l)} W^{(l)}\big),
        \qquad \hat A = A + I

    With ``num_layers=1`` and 512 units this is DGI's transductive encoder for Cora
    (Veličković et al. 2019).

    Input: a PyG ``Data``/``Batch`` with ``x`` ``[num_nodes, in_features]`` and
    ``edge_index`` ``[2, num_edges]`` (and optional ``edge_weight`` ``[num_edges]``).
    Output: node embeddings ``[num_nodes, output_dim]``.
    """

    def __init__(self, in_features: int, hidden_dim: int = 512, output_dim: int = 512, num_layers: int = 1):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"gcn: num_layers must be >= 1, got {num_layers}")
        sizes = [in_features] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.convs = nn.ModuleList(GCNConv(i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        self.acts = nn.ModuleList(nn.PReLU() for _ in sizes[1:])
        self.output_dim = output_dim

    def forward(self, data: Data) -> Tensor:
        h, adj_t = data.x, sparse_adjacency(data)
        for conv, act in zip(self.convs, self.acts):
            h = act(conv(h, adj_t))
        return h


def build_gcn(
    info: Mapping[str, Any], hidden_dim: int = 512, output_dim: int = 512, num_layers: int = 1
) -> GCNEncoder:
    """Encoder factory: a :class:`GCNEncoder` for ``info["num_features"]`` input features."""
    in_features = info_get(info, "num_features", " (the gcn encoder needs a graph dataset)")
    return GCNEncoder(int(in_features), hidden_dim=hidden_dim, output_dim=output_dim, num_layers=num_layers)
