"""Masks for hide-and-reconstruct tasks (bool ``[N, 1, H, W]``, ``True`` = hidden), drawn in
the collate (the DataLoader workers), the collate that applies them and the masked MSE."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from sslcore_vision.transforms import to_normalised_float


class MaskedBatch(NamedTuple):
    """``images``: the masked inputs ``[N, C, H, W]`` (hidden pixels set to the fill
    value); ``masks``: ``[N, 1, H, W]`` bool, ``True`` = hidden; ``targets``: the
    unmasked normalised images ``[N, C, H, W]``."""

    images: Tensor
    masks: Tensor
    targets: Tensor


class SquareMask:
    """One square hole of side ``round(fraction * min(H, W))`` per image: centred
    (Pathak et al. 2016's central region) or at a uniformly random position."""

    def __init__(self, fraction: float = 0.5, centre: bool = True):
        if not 0 < fraction < 1:
            raise ValueError(f"the hole's side is a fraction of the image side in (0, 1), got {fraction}")
        self.fraction, self.centre = fraction, centre

    def __call__(self, n: int, height: int, width: int) -> Tensor:
        side = max(1, round(self.fraction * min(height, width)))
        if self.centre:
            top = torch.full((n,), (height - side) // 2)
            left = torch.full((n,), (width - side) // 2)
        else:
            top = torch.randint(0, height - side + 1, (n,))
            left = torch.randint(0, width - side + 1, (n,))
        rows, cols = torch.arange(height), torch.arange(width)
        in_rows = (rows >= top[:, None]) & (rows < top[:, None] + side)  # [n, H]
        in_cols = (cols >= left[:, None]) & (cols < left[:, None] + side)  # [n, W]
        return (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1)


class PatchMask:
    """Hide ``round(ratio * P)`` of the ``P`` non-overlapping ``patch_size`` patches of
    each image, chosen uniformly without replacement (SimMIM / MAE masking; the last
    row and column of patches are cropped when the side is not a multiple)."""

    def __init__(self, patch_size: int = 4, ratio: float = 0.6):
        if patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {patch_size}")
        if not 0 < ratio < 1:
            raise ValueError(f"the masked fraction of patches must be in (0, 1), got {ratio}")
        self.patch_size, self.ratio = patch_size, ratio

    def num_patches(self, height: int, width: int) -> int:
        """Patches of a ``height x width`` image (a partial last row / column counts)."""
        return math.ceil(height / self.patch_size) * math.ceil(width / self.patch_size)

    def hidden(self, height: int, width: int) -> int:
        """Patches hidden per image: ``round(ratio * P)``, at least 1, at most ``P``."""
        patches = self.num_patches(height, width)
        return min(patches, max(1, round(self.ratio * patches)))

    def __call__(self, n: int, height: int, width: int) -> Tensor:
        grid_h, grid_w = math.ceil(height / self.patch_size), math.ceil(width / self.patch_size)
        patches, hidden = grid_h * grid_w, self.hidden(height, width)
        ranks = torch.rand(n, patches).argsort(dim=1).argsort(dim=1)
        grid = (ranks < hidden).view(n, 1, grid_h, grid_w)
        full = grid.repeat_interleave(self.patch_size, 2).repeat_interleave(self.patch_size, 3)
        return full[:, :, :height, :width]


class MaskedImageCollate:
    """uint8 images ``[C, H, W]`` -> :class:`MaskedBatch`: normalise with the dataset's
    mean / std, draw masks with ``mask(n, H, W)``, set hidden pixels to ``fill`` (0 is
    the dataset mean after normalisation)."""

    def __init__(
        self,
        mask: Callable[[int, int, int], Tensor],
        mean: Sequence[float],
        std: Sequence[float],
        fill: float = 0.0,
    ):
        self.mask, self.fill = mask, fill
        self.normalise = to_normalised_float(mean, std)

    def __call__(self, samples: Sequence[Tensor]) -> MaskedBatch:
        targets = self.normalise(torch.stack(list(samples)))
        masks = self.mask(len(targets), targets.shape[-2], targets.shape[-1])
        return MaskedBatch(targets.masked_fill(masks, self.fill), masks, targets)


def masked_mse(prediction: Tensor, target: Tensor, masks: Tensor, outside_weight: float = 0.0) -> Tensor:
    r"""Weighted mean squared error, hidden pixels weight 1 and visible ones
    ``outside_weight``:

    .. math::
        \mathcal{L} = \frac{\sum_{i} w_i \lVert \hat x_i - x_i \rVert^2}{C \sum_i w_i},
        \quad w_i = m_i + \lambda_{out} (1 - m_i)

    ``prediction``, ``target``: ``[N, C, H, W]``; ``masks``: ``[N, 1, H, W]`` bool.
    """
    weights = masks.to(prediction.dtype)
    if outside_weight:
        weights = weights + outside_weight * (~masks).to(prediction.dtype)
    squared = (prediction - target).pow(2) * weights
    return squared.sum() / (weights.sum() * prediction.shape[1]).clamp(min=1.0)


# -- MAE: random patch dropping on token sequences ---------------------------------------


def kept_patches(num_patches: int, mask_ratio: float) -> int:
    """Patches MAE keeps visible: ``int(num_patches * (1 - mask_ratio))``, rounded down as
    in the reference code (0 when nothing would be left)."""
    return int(num_patches * (1 - mask_ratio))


class PatchShuffle(NamedTuple):
    """One random shuffle of each image's ``N`` patches, the first ``K`` kept.

    ``keep``: ``[B, K]`` int64, the kept patch indices in shuffled order; ``restore``:
    ``[B, N]`` int64, each patch's position in the shuffled order, so
    ``gather_tokens(shuffled, restore)`` puts a shuffled sequence back in patch order;
    ``hidden``: ``[B, N]`` bool in patch order, ``True`` = dropped (``restore >= K``).
    """

    keep: Tensor
    restore: Tensor
    hidden: Tensor


def random_patch_shuffle(
    batch: int,
    num_patches: int,
    num_keep: int,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> PatchShuffle:
    """MAE's per-sample random masking: argsort of uniform noise ``[batch, num_patches]``
    (drawn on ``device``) is a uniform random permutation; its first ``num_keep`` entries
    stay visible."""
    if not 0 < num_keep <= num_patches:
        raise ValueError(f"random_patch_shuffle: num_keep must be in 1..{num_patches}, got {num_keep}")
    noise = torch.rand(batch, num_patches, device=device, generator=generator)
    shuffle = noise.argsort(dim=1)
    restore = shuffle.argsort(dim=1)
    return PatchShuffle(shuffle[:, :num_keep], restore, restore >= num_keep)


def gather_tokens(tokens: Tensor, index: Tensor) -> Tensor:
    """``out[b, i] = tokens[b, index[b, i]]``: ``[B, N, D]`` and ``[B, K]`` -> ``[B, K, D]``
    (keep patches with ``PatchShuffle.keep``, un-shuffle with ``PatchShuffle.restore``)."""
    return tokens.gather(1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def hidden_patch_mse(prediction: Tensor, target: Tensor, hidden: Tensor) -> Tensor:
    r"""MAE's loss: the per-patch mean squared error averaged over the hidden patches only,

    .. math::
        \mathcal{L} = \frac{\sum_{b,i} m_{bi}\, \tfrac1P \lVert \hat x_{bi} - x_{bi} \rVert^2}
                           {\sum_{b,i} m_{bi}}

    ``prediction``, ``target``: ``[B, N, P]`` patches; ``hidden``: ``[B, N]`` bool
    (:math:`m`, ``True`` = hidden).
    """
    per_patch = (prediction - target).pow(2).mean(dim=-1)
    weights = hidden.to(per_patch.dtype)
    return (per_patch * weights).sum() / weights.sum().clamp(min=1.0)
