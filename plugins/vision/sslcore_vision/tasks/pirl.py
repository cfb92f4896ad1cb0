"""PIRL (Misra & van der Maaten 2020, "Self-Supervised Learning of Pretext-Invariant
Representations") with a memory bank keyed by image content."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sslcore import ConfigError, ContrastiveTask, TaskOutput, info_nce
from sslcore.data import info_get
from sslcore_vision.patches import TileGrid, shuffle_tiles
from sslcore_vision.tasks.pseudo_label import check_encoder_channels
from sslcore_vision.transforms import simclr_augmentation


def image_id(image: Tensor) -> int:
    """A 64-bit content hash of a uint8 image: the memory-bank key of a sample (the
    trainer passes images, not dataset indices; identical images share one entry)."""
    digest = hashlib.blake2b(image.contiguous().numpy().tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _forget_slots(bank: MemoryBank, *_: Any) -> None:
    bank.slot_of.clear()  # rebuilt from the loaded ``ids`` on the next lookup


class MemoryBank(nn.Module):
    r"""One L2-normalised vector per image, ``memory [capacity, dim]``, keyed by
    :func:`image_id`. An image seen for the first time is stored as is; afterwards
    :math:`m \leftarrow \mathrm{normalize}(\mu\, m + (1 - \mu)\, v)` (PIRL: :math:`\mu = 0.5`).
    ``ids``, ``memory`` and ``count`` are buffers, so the bank is checkpointed.
    """

    ids: Tensor
    memory: Tensor
    count: Tensor

    def __init__(self, capacity: int, dim: int):
        super().__init__()
        self.register_buffer("ids", torch.zeros(capacity, dtype=torch.long))
        self.register_buffer("memory", torch.zeros(capacity, dim))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self.slot_of: dict[int, int] = {}
        self.register_load_state_dict_post_hook(_forget_slots)

    def slots(self, ids: Tensor) -> Tensor:
        """Row of each id ``[N]`` in ``memory``, ``-1`` for ids not stored yet."""
        if len(self.slot_of) != int(self.count):
            self.slot_of = {key: row for row, key in enumerate(self.ids[: int(self.count)].tolist())}
        return torch.tensor([self.slot_of.get(key, -1) for key in ids.tolist()], device=self.memory.device)

    @torch.no_grad()
    def update(self, ids: Tensor, values: Tensor, momentum: float) -> None:
        """Move the entries of ``ids [N]`` towards ``values [N, dim]`` (new ids are added)."""
        values = F.normalize(values.to(self.memory.dtype), dim=1)
        rows = self.slots(ids)
        new = rows < 0
        for i in new.nonzero().flatten().tolist():
            key = int(ids[i])
            if key not in self.slot_of:
                if int(self.count) == len(self.memory):
                    raise ConfigError(
                        f"pirl: the memory bank is full ({len(self.memory)} images); "
                        f"pass a bank_size of at least the number of training images"
                    )
                self.slot_of[key] = int(self.count)
                self.ids[self.count] = key
                self.count += 1
            rows[i] = self.slot_of[key]
        mixed = F.normalize(momentum * self.memory[rows] + (1 - momentum) * values, dim=1)
        self.memory[rows] = torch.where(new[:, None], values, mixed)

    def sample(self, k: int) -> Tensor:
        """``min(k, count)`` stored vectors drawn uniformly (with replacement once full)."""
        count = int(self.count)
        if count <= k:
            return self.memory[:count].clone()
        return self.memory[torch.randint(count, (k,), device=self.memory.device)]


class PIRL(ContrastiveTask):
    r"""The representation of an image should be invariant to its jigsaw transform.

    .. math::
        \mathcal{L} = \lambda\, L_{\mathrm{NCE}}\big(m_I, g(v_{I^t})\big)
            + (1 - \lambda)\, L_{\mathrm{NCE}}\big(m_I, f(v_I)\big)

    ``f(v_I)``: encoder + linear projection of the (augmented) image; ``g(v_{I^t})``:
    each of the ``n`` shuffled tiles of another augmented view encoded by the same
    encoder, projected, concatenated (``n * proj_dim``) and projected again; ``m_I``: the
    image's memory-bank entry (:class:`MemoryBank`, updated with ``f(v_I)`` and momentum
    ``bank_momentum`` after each step). ``L_NCE`` is :func:`sslcore.info_nce` with the
    memory entry as key and ``num_negatives`` bank entries as shared negatives
    (in-batch negatives before the bank holds any entry).

    Batch: ``(ids [N], images [N, C, S, S], tiles [N, n, C, t, t])`` built by
    :meth:`collate` from ``N`` uint8 images. ``embed(images) -> [N, output_dim]`` is the
    encoder output.
    """

    domain = "vision"
    signal = "invariance of an image's representation to its jigsaw transform"
    family = "instance-instance"
    negatives = "memory-bank"

    def __init__(
        self,
        encoder: nn.Module,
        augmentation: Callable[[Tensor], Tensor],
        tiles: TileGrid,
        proj_dim: int = 128,
        temperature: float = 0.07,
        loss_weight: float = 0.5,
        bank_momentum: float = 0.5,
        num_negatives: int = 4096,
        bank_size: int = 65536,
    ):
        super().__init__(encoder, head=nn.Linear(encoder.output_dim, proj_dim))
        self.tile_head = nn.Linear(encoder.output_dim, proj_dim)
        self.puzzle_head = nn.Linear(tiles.num_tiles * proj_dim, proj_dim)
        self.bank = MemoryBank(bank_size, proj_dim)
        self.augmentation, self.tiles = augmentation, tiles
        self.temperature, self.loss_weight = temperature, loss_weight
        self.bank_momentum, self.num_negatives = bank_momentum, num_negatives
        self.pending: list[tuple[Tensor, Tensor]] = []

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        grid: int = 3,
        gap: float = 0.15,
        patch_jitter: float = 1.0,
        min_tile_size: int = 8,
        crop_min_scale: float = 0.2,
        jitter: float = 0.5,
        **options: Any,
    ) -> PIRL:
        """Views as in SimCLR (``crop_min_scale``, colour ``jitter``), tiles as in
        jigsaw; other options go to ``__init__``. Too small images raise ``ConfigError``."""
        size = info_get(info, "image_size")
        tiles = TileGrid(size, grid, gap, patch_jitter, min_tile_size).check("pirl")
        check_encoder_channels(encoder, info, "pirl")
        channels, mean, std = (info_get(info, k) for k in ("in_channels", "mean", "std"))
        augmentation = simclr_augmentation(
            size, channels, mean, std, crop_min_scale=crop_min_scale, jitter=jitter
        )
        return cls(encoder, augmentation, tiles, **options)

    def collate(self, samples: Sequence[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        ids = torch.tensor([image_id(x) for x in samples])
        images = torch.stack([self.augmentation(x) for x in samples])
        tiles = self.tiles.extract(torch.stack([self.augmentation(x) for x in samples]))
        order = torch.rand(len(tiles), self.tiles.num_tiles).argsort(dim=1)
        return ids, images, shuffle_tiles(tiles, order)

    def forward(self, batch: tuple[Tensor, Tensor, Tensor]) -> TaskOutput:
        ids, images, tiles = batch
        v_image = self.head(self.encoder(images))  # [N, proj_dim]
        v_tiles = self.tile_head(self.encoder(tiles.flatten(0, 1)))  # [N * n, proj_dim]
        v_puzzle = self.puzzle_head(v_tiles.view(len(tiles), -1))  # [N, proj_dim]
        rows = self.bank.slots(ids)
        fresh = F.normalize(v_image.detach(), dim=1)
        memory = torch.where(rows[:, None] >= 0, self.bank.memory[rows.clamp(min=0)], fresh)
        negatives = self.bank.sample(self.num_negatives) if int(self.bank.count) else None
        puzzle_loss = info_nce(v_puzzle, memory, negatives, self.temperature)
        image_loss = info_nce(v_image, memory, negatives, self.temperature)
        loss = self.loss_weight * puzzle_loss + (1 - self.loss_weight) * image_loss
        if self.training:
            self.pending.append((ids, v_image.detach()))
        similarity = F.cosine_similarity(v_puzzle.detach(), memory).mean().item()
        return TaskOutput(loss, {"puzzle_memory_cosine": similarity})

    def on_train_step_end(self, progress: float) -> None:
        """Write the step's image representations into the memory bank."""
        for ids, values in self.pending:
            self.bank.update(ids, values, self.bank_momentum)
        self.pending.clear()
