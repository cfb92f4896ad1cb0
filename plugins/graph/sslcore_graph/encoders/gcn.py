"""Graph convolutional encoder (Kipf & Welling 2017) as configured in Deep Graph Infomax."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Annotated, Any

import torch
from annotated_types import Ge, Interval
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv
from torch_geometric.utils import to_torch_csr_tensor

from sslcore_graph.encoders.message_passing import GraphEncoder, JumpingKnowledge, Readout, in_features_of


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


class GCNEncoder(GraphEncoder):
    r"""Stack of ``num_layers`` PyG ``GCNConv`` layers, each followed by an activation
    (PReLU by default):

    .. math::
        H^{(l+1)} = \mathrm{PReLU}\big(\hat D^{-1/2} \hat A \hat D^{-1/2} H^{(l)} W^{(l)}\big),
        \qquad \hat A = A + I

    With ``num_layers=1`` and 512 units this is DGI's transductive encoder for Cora
    (Veličković et al. 2019); GRACE's is ``num_layers=2, hidden_dim=256, output_dim=128``.

    Input: a PyG ``Data``/``Batch`` with ``x`` ``[num_nodes, in_features]`` and
    ``edge_index`` ``[2, num_edges]`` (and optional ``edge_weight`` ``[num_edges]``, used as
    the adjacency's values, e.g. a diffusion view).
    Output: node embeddings ``[num_nodes, output_dim]``; :meth:`graph_embed` gives
    ``[num_graphs, output_dim]`` with the ``readout`` (default ``"mean"``). Built by
    :func:`build_gcn`; other options as :class:`~sslcore_graph.encoders.message_passing.GraphEncoder`.
    """

    adjacency = staticmethod(sparse_adjacency)


def build_gcn(
    info: Mapping[str, Any],
    hidden_dim: Annotated[int, Ge(1)] = 512,
    output_dim: Annotated[int, Ge(1)] = 512,
    num_layers: Annotated[int, Ge(1)] = 1,
    activation: str = "prelu",
    norm: str | None = None,
    dropout: Annotated[float, Interval(ge=0, le=1)] = 0.0,
    jk: JumpingKnowledge = "last",
    readout: Readout = "mean",
) -> GCNEncoder:
    """Encoder factory: a :class:`GCNEncoder` for ``info["num_features"]`` input features."""
    return GCNEncoder(
        GCNConv, in_features_of(info, "gcn"), hidden_dim, output_dim, num_layers,
        activation, norm, dropout, jk, readout, "gcn",
    )  # fmt: skip
