"""A ReLU MLP encoder for rows of numeric features."""

from collections.abc import Mapping
from typing import Annotated, Any

from annotated_types import Ge
from torch import Tensor, nn


class MLPEncoder(nn.Module):
    """``[B, num_features] -> [B, output_dim]`` through ``depth`` Linear-BatchNorm-ReLU blocks."""

    def __init__(self, num_features: int, output_dim: int = 64, depth: int = 2):
        super().__init__()
        layers: list[nn.Module] = []
        width = num_features
        for _ in range(depth):
            layers += [nn.Linear(width, output_dim), nn.BatchNorm1d(output_dim), nn.ReLU()]
            width = output_dim
        self.net = nn.Sequential(*layers)
        self.num_features = num_features
        self.output_dim = output_dim

    def forward(self, rows: Tensor) -> Tensor:
        if rows.dim() != 2 or rows.shape[1] != self.num_features:
            raise ValueError(f"MLPEncoder expects [B, {self.num_features}] rows, got {tuple(rows.shape)}")
        return self.net(rows)


def build_mlp(
    info: Mapping[str, Any], output_dim: Annotated[int, Ge(1)] = 64, depth: Annotated[int, Ge(1)] = 2
) -> MLPEncoder:
    return MLPEncoder(info["num_features"], output_dim, depth)
