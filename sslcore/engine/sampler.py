"""A shuffling sampler whose order is a pure function of (seed, epoch), so a resumed
run can skip exactly the samples it already saw."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableRandomSampler(Sampler[int]):
    """Yields a permutation of ``range(num_samples)`` seeded by ``(seed, epoch)``,
    starting at position ``start`` (set by the trainer on resume)."""

    def __init__(self, num_samples: int, seed: int = 0, shuffle: bool = True):
        self.num_samples, self.seed, self.shuffle = num_samples, seed, shuffle
        self.epoch, self.start = 0, 0

    def set_position(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.num_samples, generator=g)
        else:
            order = torch.arange(self.num_samples)
        return iter(order[self.start :].tolist())

    def __len__(self) -> int:
        return self.num_samples - self.start
