"""Tiles of an image grid (:class:`TileGrid`) and the jigsaw permutation set, shared by the
context tasks (relative position, jigsaw, PIRL; see plugins/vision/README.md), and the
ViT patch sequence of an image (:func:`patchify`, :func:`unpatchify`; MAE)."""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from sslcore import ConfigError

#: smallest tile side (pixels, before resizing) a task may cut
MIN_TILE = 3


@dataclass(frozen=True)
class TileGrid:
    """Geometry of ``grid x grid`` tiles on ``image_size x image_size`` images: the central
    ``grid * cell`` square cut into cells of side ``cell = S // grid``, one tile per cell.

    Args:
        image_size: side ``S`` of the (square) images.
        grid: tiles per side; tiles are numbered row-major, ``0 .. grid**2 - 1``.
        gap: fraction of the cell side left out, ``tile = cell - round(gap * cell)``.
        jitter: fraction of the free margin ``cell - tile`` the tile may move over
            (``0`` centres it, ``1`` is a uniformly random crop inside the cell).
        min_tile_size: tiles smaller than this are resized up to it (antialiased bilinear).
    """

    image_size: int
    grid: int = 3
    gap: float = 0.0
    jitter: float = 0.0
    min_tile_size: int = 0

    def __post_init__(self) -> None:
        if self.grid < 2:
            raise ConfigError(f"grid must be >= 2 tiles per side, got {self.grid}")
        if not 0 <= self.gap < 1:
            raise ConfigError(f"gap is a fraction of the cell side in [0, 1), got {self.gap}")
        if not 0 <= self.jitter <= 1:
            raise ConfigError(f"jitter is a fraction of the free margin in [0, 1], got {self.jitter}")

    @property
    def num_tiles(self) -> int:
        return self.grid**2

    @property
    def cell(self) -> int:
        return self.image_size // self.grid

    @property
    def tile(self) -> int:
        """Side of a tile as cut, before resizing."""
        return self.cell - round(self.gap * self.cell)

    @property
    def output_size(self) -> int:
        """Side of a tile as returned by :meth:`extract`."""
        return max(self.tile, self.min_tile_size)

    def check(self, task: str) -> TileGrid:
        """Raise :class:`~sslcore.ConfigError` naming the image size and the smallest one
        that works when tiles would be smaller than :data:`MIN_TILE` pixels."""
        if self.tile >= MIN_TILE:
            return self
        minimum = next(
            s for s in itertools.count(self.image_size) if TileGrid(s, self.grid, self.gap).tile >= MIN_TILE
        )
        raise ConfigError(
            f"{task}: {self.image_size}x{self.image_size} images are too small for a {self.grid}x{self.grid} "
            f"grid with gap={self.gap}: tiles would be {self.tile} px, at least {MIN_TILE} px are needed, "
            f"so images of at least {minimum}x{minimum}; use larger images or a smaller grid/gap"
        )

    def offsets(
        self, batch: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> Tensor:
        """Top-left corners ``[batch, num_tiles, 2]`` (row, column) of every tile, on
        ``device`` (the generator's device when a generator is given)."""
        device = generator.device if generator is not None else device
        free = self.cell - self.tile
        if self.jitter == 0:
            inner = torch.full((batch, self.num_tiles, 2), free // 2, device=device)
        else:
            low = math.floor(free * (1 - self.jitter) / 2)
            shape = (batch, self.num_tiles, 2)
            inner = torch.randint(low, free - low + 1, shape, generator=generator, device=device)
        margin = (self.image_size - self.grid * self.cell) // 2
        cells = torch.arange(self.num_tiles, device=device)
        origin = torch.stack([cells // self.grid, cells % self.grid], dim=1) * self.cell + margin
        return origin + inner

    def extract(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Cut the tiles: ``[B, C, S, S] -> [B, num_tiles, C, t, t]`` with
        ``t = output_size``, row-major (tile ``k`` comes from cell ``(k // grid, k % grid)``)."""
        if images.dim() != 4 or tuple(images.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(
                f"TileGrid: expected images [B, C, {self.image_size}, {self.image_size}], got {tuple(images.shape)}"
            )
        corners = self.offsets(len(images), generator, images.device).to(images.device)
        steps = torch.arange(self.tile, device=images.device)
        rows = (corners[..., 0, None] + steps)[..., :, None]  # [B, n, t, 1]
        cols = (corners[..., 1, None] + steps)[..., None, :]  # [B, n, 1, t]
        batch = torch.arange(len(images), device=images.device)[:, None, None, None]
        tiles = images[batch, :, rows, cols].permute(0, 1, 4, 2, 3)  # [B, n, C, t, t]
        if self.tile < self.min_tile_size:
            size = [self.min_tile_size] * 2
            tiles = TF.resize(tiles.flatten(0, 1), size, antialias=True).unflatten(0, tiles.shape[:2])
        return tiles.contiguous()


def shuffle_tiles(tiles: Tensor, permutations: Tensor) -> Tensor:
    """Reorder each image's tiles: ``out[b, i] = tiles[b, permutations[b, i]]``.

    Shapes: ``tiles [B, n, C, t, t]``, ``permutations [B, n]`` -> ``[B, n, C, t, t]``;
    ``shuffle_tiles(out, permutations.argsort(dim=1))`` restores the original order.
    """
    return tiles[torch.arange(len(tiles), device=tiles.device)[:, None], permutations]


@functools.lru_cache(maxsize=4)
def _all_permutations(n: int) -> np.ndarray:
    """Every permutation of ``range(n)``, column-major ``[n, n!]`` int8 (fast per-position compares)."""
    return np.array(list(itertools.permutations(range(n))), dtype=np.int8).T.copy()


def hamming_permutations(count: int, num_tiles: int = 9, seed: int = 0) -> Tensor:
    """A set of ``count`` permutations of ``num_tiles`` items, far apart in Hamming
    distance (Noroozi & Favaro 2016), as ``[count, num_tiles]`` int64.

    Greedy max-min selection over all ``num_tiles!`` permutations: start from a random
    one, then repeatedly add the permutation whose minimum Hamming distance to the
    chosen set is largest (ties broken at random). Deterministic given ``seed``.
    """
    if not 2 <= num_tiles <= 9:
        raise ConfigError(
            f"hamming_permutations: num_tiles must be in 2..9 (a 2x2 or 3x3 grid), got {num_tiles}"
        )
    total = math.factorial(num_tiles)
    if not 1 <= count <= total:
        raise ConfigError(
            f"hamming_permutations: count must be in 1..{total} for {num_tiles} tiles, got {count}"
        )
    return torch.from_numpy(_max_min_hamming(count, num_tiles, seed).astype(np.int64))


@functools.lru_cache(maxsize=16)
def _max_min_hamming(count: int, num_tiles: int, seed: int) -> np.ndarray:
    columns = _all_permutations(num_tiles)  # [num_tiles, num_tiles!]
    rng = np.random.default_rng(seed)
    nearest = np.full(columns.shape[1], num_tiles + 1, dtype=np.int8)  # distance to the chosen set
    chosen = [int(rng.integers(columns.shape[1]))]
    while True:
        distance = sum(column != column[chosen[-1]] for column in columns)
        np.minimum(nearest, distance, out=nearest)
        if len(chosen) == count:
            break
        chosen.append(int(rng.choice(np.flatnonzero(nearest == nearest.max()))))
    return columns[:, chosen].T


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """Cut images into the row-major sequence of non-overlapping ``p x p`` patches a ViT
    embeds (MAE's ``patchify``), each flattened in ``(row, column, channel)`` order.

    Shapes: ``[B, C, H, W] -> [B, (H/p) (W/p), p * p * C]``; ``H`` and ``W`` must be
    multiples of ``p``.
    """
    b, c, h, w = images.shape
    if h % patch_size or w % patch_size:
        raise ValueError(
            f"patchify: {h}x{w} images are not a whole number of {patch_size}x{patch_size} patches"
        )
    x = images.reshape(b, c, h // patch_size, patch_size, w // patch_size, patch_size)
    return torch.einsum("bchpwq->bhwpqc", x).reshape(b, (h // patch_size) * (w // patch_size), -1)


def unpatchify(patches: Tensor, patch_size: int, grid: tuple[int, int]) -> Tensor:
    """The inverse of :func:`patchify`: ``[B, h * w, p * p * C] -> [B, C, h p, w p]`` for a
    ``grid = (h, w)`` of patches."""
    b, n, dim = patches.shape
    h, w = grid
    channels = dim // patch_size**2
    if n != h * w or channels * patch_size**2 != dim:
        raise ValueError(
            f"unpatchify: [{b}, {n}, {dim}] is not a {h}x{w} grid of {patch_size}x{patch_size} patches"
        )
    x = patches.reshape(b, h, w, patch_size, patch_size, channels)
    return torch.einsum("bhwpqc->bchpwq", x).reshape(b, channels, h * patch_size, w * patch_size)


def normalise_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    r"""Each patch standardised over its own pixels (MAE's ``norm_pix_loss`` target):
    :math:`(x - \mu) / \sqrt{\sigma^2 + \epsilon}` with the patch's mean and unbiased
    variance, as the reference code. Shapes: ``[..., P] -> [..., P]``."""
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + eps).sqrt()
