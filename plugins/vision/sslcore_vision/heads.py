"""Projection heads placed between an encoder and a contrastive loss."""

from __future__ import annotations

from torch import nn


def projection_mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """SimCLR's non-linear projection g: ``Linear -> BatchNorm -> ReLU -> Linear``.

    Shapes: ``[N, in_dim] -> [N, out_dim]``.
    """
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim),
    )
