"""A shuffling sampler whose order is a pure function of (seed, epoch), so a resumed
run can skip exactly the samples it already saw; under torch.distributed each rank reads
its own shard of every global batch."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableRandomSampler(Sampler[int]):
    """Yields a permutation of ``range(num_samples)`` seeded by ``(seed, epoch)``,
    starting at position ``start`` (set by the trainer on resume).

    With ``world_size`` W > 1, rank ``r`` takes the positions ``r, r + W, ...`` of that order,
    so per-rank batches of ``global_batch / W`` make up exactly the single-process global
    batches. ``drop_last_global`` keeps only whole global batches; without it the order is
    padded by wrapping around to a multiple of W (as :class:`~torch.utils.data.DistributedSampler`
    does). ``start`` is a position in the global order, so a run can resume with another W.
    """

    def __init__(
        self,
        num_samples: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        global_batch: int | None = None,
        drop_last_global: bool = False,
    ):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.num_samples, self.seed = num_samples, seed
        self.rank, self.world_size = rank, world_size
        self.global_batch = global_batch or num_samples
        self.drop_last_global = drop_last_global
        self.epoch, self.start = 0, 0

    def set_position(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def _usable(self) -> int:
        if self.drop_last_global:
            return self.num_samples // self.global_batch * self.global_batch
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.num_samples, generator=g)[self.start : self._usable()]
        padding = -len(order) % self.world_size
        if padding and len(order):
            order = torch.cat([order, order.repeat(math.ceil(padding / len(order)))[:padding]])
        return iter(order[self.rank :: self.world_size].tolist())

    def __len__(self) -> int:
        remaining = max(self._usable() - self.start, 0)
        return math.ceil(remaining / self.world_size)
