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


def prediction_mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """BYOL's / SimSiam's predictor q on top of the online projection:
    ``Linear -> BatchNorm -> ReLU -> Linear`` (SimSiam: a bottleneck, ``hidden_dim < in_dim``).

    Shapes: ``[N, in_dim] -> [N, out_dim]``.
    """
    return projection_mlp(in_dim, hidden_dim, out_dim)


def classification_head(in_dim: int, num_classes: int, hidden_dim: int = 512) -> nn.Module:
    """Pseudo-label classifier of the context tasks (rotation, relative position, jigsaw):
    :func:`projection_mlp` to ``num_classes`` logits, or one ``Linear`` if ``hidden_dim=0``.

    Shapes: ``[N, in_dim] -> [N, num_classes]``.
    """
    if hidden_dim == 0:
        return nn.Linear(in_dim, num_classes)
    return projection_mlp(in_dim, hidden_dim, num_classes)
