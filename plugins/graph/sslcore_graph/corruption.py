"""Graph corruptions that build negative samples."""

from __future__ import annotations

import copy

import torch
from torch_geometric.data import Data


def shuffle_node_features(data: Data, generator: torch.Generator | None = None) -> Data:
    r"""DGI's corruption :math:`\mathcal{C}(X, A) = (PX, A)`: permute the rows of the node
    features with a random permutation :math:`P`, keep the edges.

    Args:
        data: graph with ``x`` ``[num_nodes, num_features]`` and ``edge_index`` ``[2, num_edges]``.
        generator: optional random generator for the permutation.

    Returns:
        A shallow copy of ``data`` whose ``x`` is ``data.x[perm]``; every other attribute
        (``edge_index`` included) is the same tensor object, nothing else is copied.
    """
    perm = torch.randperm(data.x.shape[0], device=data.x.device, generator=generator)
    corrupted = copy.copy(data)
    corrupted.x = data.x[perm]
    return corrupted
