"""Projection heads placed between an encoder and a contrastive loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


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


class WeightNormLinear(nn.Module):
    r"""A bias-free linear layer with weight normalisation (Salimans & Kingma 2016):
    :math:`W = g \odot V / \lVert V \rVert_{\text{row}}`, gains ``weight_g`` ``[out, 1]``,
    directions ``weight_v`` ``[out, in]``. ``freeze_gain``: ``g`` stays 1 (DINO's
    ``norm_last_layer``), so every row of ``W`` is a unit vector. Written out rather than
    ``torch.nn.utils.parametrizations.weight_norm``, whose modules cannot be pickled (a task's
    ``collate`` is pickled with the task for spawned DataLoader workers).

    Shapes: ``[..., in_dim] -> [..., out_dim]``.
    """

    def __init__(self, in_dim: int, out_dim: int, freeze_gain: bool = True):
        super().__init__()
        direction = nn.Linear(in_dim, out_dim, bias=False).weight.detach()  # nn.Linear's init
        self.weight_v = nn.Parameter(direction.clone())
        self.weight_g = nn.Parameter(torch.ones(out_dim, 1), requires_grad=not freeze_gain)

    @property
    def weight(self) -> Tensor:
        r"""``[out_dim, in_dim]``: :math:`g \odot V / \lVert V \rVert_{\text{row}}`."""
        return self.weight_g * F.normalize(self.weight_v, dim=1)

    def forward(self, x: Tensor, frozen: bool = False) -> Tensor:
        """``frozen``: no gradient reaches the weights (DINO's ``freeze_last_layer``); the input still gets one."""
        weight = self.weight
        return F.linear(x, weight.detach() if frozen else weight)


class TokenBatchNorm(nn.BatchNorm1d):
    """:class:`~torch.nn.BatchNorm1d` over the last dimension of ``[..., D]`` (features
    ``[N, D]`` or tokens ``[N, P, D]``): the statistics pool every leading index.

    Shapes: ``[..., D] -> [..., D]``.
    """

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class DINOHead(nn.Module):
    r"""DINO's projection head (Caron et al. 2021; iBOT's shared head):

    .. math::
        h(x) = W\,\frac{u}{\lVert u \rVert}, \qquad
        u = \text{MLP}(x) \ (\text{Linear-GELU}^{\,L-1} \to \text{Linear to } d_b)

    an MLP of ``num_layers`` linear layers (hidden ``hidden_dim``, GELU; with ``batch_norm``,
    the reference's ``use_bn``, a :class:`TokenBatchNorm` before each GELU) to a
    ``bottleneck_dim`` bottleneck, L2-normalised, then a weight-normalised bias-free layer to
    ``out_dim`` prototype logits (:class:`WeightNormLinear`; with ``norm_last_layer`` its gain
    is frozen at 1, so the logits are cosines in [-1, 1]). The paper's 2048 / 256 / 65536;
    the defaults here are CPU-sized. Linear weights: truncated normal, std 0.02; biases 0.

    Shapes: ``[..., in_dim] -> [..., out_dim]`` (``[N, D]`` features or ``[N, P, D]`` tokens).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 4096,
        hidden_dim: int = 512,
        bottleneck_dim: int = 128,
        num_layers: int = 3,
        norm_last_layer: bool = True,
        batch_norm: bool = False,
    ):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"DINOHead: num_layers must be >= 1, got {num_layers}")
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [bottleneck_dim]
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims, dims[1:])):
            layers.append(nn.Linear(d_in, d_out))
            if i < num_layers - 1:
                layers += [TokenBatchNorm(d_out)] if batch_norm else []
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.last_layer = WeightNormLinear(bottleneck_dim, out_dim, freeze_gain=norm_last_layer)

    def forward(self, x: Tensor, frozen_last_layer: bool = False) -> Tensor:
        """``frozen_last_layer``: the prototypes get no gradient this call (the first steps)."""
        return self.last_layer(F.normalize(self.mlp(x), dim=-1), frozen=frozen_last_layer)
