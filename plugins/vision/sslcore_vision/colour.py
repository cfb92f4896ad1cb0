r"""sRGB <-> CIE L*a*b* (D65 white point) in torch, differentiable and batched.

``rgb_to_lab``: sRGB in [0, 1] -> linear RGB (inverse sRGB gamma) -> XYZ (the sRGB /
ITU-R BT.709 primaries, D65) -> L*a*b* with

.. math::
    L = 116 f(Y/Y_n) - 16,\quad a = 500 (f(X/X_n) - f(Y/Y_n)),\quad
    b = 200 (f(Y/Y_n) - f(Z/Z_n)),\quad
    f(t) = t^{1/3} \text{ if } t > \delta^3 \text{ else } t / (3\delta^2) + 4/29,\ \delta = 6/29.

L is in [0, 100]; a, b are roughly in [-110, 110]. Pure red ``(1, 0, 0)`` is
``(53.24, 80.09, 67.20)``. ``lab_to_rgb`` is the exact inverse (no clipping).
Shapes: ``[..., 3, H, W] -> [..., 3, H, W]`` (channel dimension ``-3``).
"""

from __future__ import annotations

import torch
from torch import Tensor

_RGB_TO_XYZ = torch.tensor(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=torch.float64,
)
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
_WHITE_D65 = (0.95047, 1.0, 1.08883)
_DELTA = 6 / 29

#: scales that map L to [-1, 1] and a, b to about [-1, 1] for networks
L_CENTRE, L_SCALE, AB_SCALE = 50.0, 50.0, 110.0


def _mix(matrix: Tensor, image: Tensor) -> Tensor:
    """Apply a 3x3 colour matrix over the channel dimension ``-3``."""
    return torch.einsum("ij,...jhw->...ihw", matrix.to(image), image)


def _white(image: Tensor) -> Tensor:
    return torch.tensor(_WHITE_D65, dtype=image.dtype, device=image.device).view(3, 1, 1)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB in [0, 1], ``[..., 3, H, W]`` -> L*a*b*, ``[..., 3, H, W]``."""
    linear = torch.where(rgb > 0.04045, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = _mix(_RGB_TO_XYZ, linear) / _white(rgb)  # linear: inverse sRGB gamma (IEC 61966-2-1)
    f = torch.where(xyz > _DELTA**3, xyz.clamp(min=_DELTA**3) ** (1 / 3), xyz / (3 * _DELTA**2) + 4 / 29)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """L*a*b*, ``[..., 3, H, W]`` -> sRGB (in [0, 1] for in-gamut colours)."""
    light, a, b = lab.unbind(-3)
    fy = (light + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=-3)
    xyz = torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4 / 29)) * _white(lab)
    linear = _mix(_XYZ_TO_RGB, xyz)
    high = 1.055 * linear.clamp(min=0.0031308) ** (1 / 2.4) - 0.055  # sRGB gamma (IEC 61966-2-1)
    return torch.where(linear > 0.0031308, high, 12.92 * linear)
