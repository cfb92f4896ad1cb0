"""PIRL (Misra & van der Maaten 2020, "Self-Supervised Learning of Pretext-Invariant
Representations") with a memory bank of one entry per pretraining sample."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from annotated_types import Ge, Gt, Interval
from torch import Tensor, nn

from sslcore import ConfigError, ContrastiveTask, TaskOutput, info_nce
from sslcore_vision.batched import StackedImages
from sslcore_vision.encoders import TILE_REQUIREMENT, require_whole_patch
from sslcore_vision.patches import TileGrid, shuffle_tiles
from sslcore_vision.tasks.image_views import AugmentOn, AugmentsOnDevice, device_views, image_facts
from sslcore_vision.transforms import ViewsCollate, simclr_augmentation


class MemoryBank(nn.Module):
    r"""One L2-normalised vector per pretraining sample, ``memory [num_samples, dim]``,
    row ``i`` for the sample at index ``i`` of the pretraining set. A sample's first
    write stores its vector; later ones move the entry with momentum :math:`\mu`:
    :math:`m_i \leftarrow \mathrm{normalize}(\mu\, m_i + (1 - \mu)\, v_i)` (PIRL:
    :math:`\mu = 0.5`). ``memory`` and ``written`` (which rows hold a vector) are buffers,
    so the bank is checkpointed.
    """

    memory: Tensor
    written: Tensor

    def __init__(self, num_samples: int, dim: int):
        super().__init__()
        self.register_buffer("memory", torch.zeros(num_samples, dim))
        self.register_buffer("written", torch.zeros(num_samples, dtype=torch.bool))

    def entries(self, indices: Tensor, fallback: Tensor) -> Tensor:
        """The entries of samples ``indices [N]``, ``[N, dim]``; a row of ``fallback
        [N, dim]`` for a sample not written yet."""
        return torch.where(self.written[indices, None], self.memory[indices], fallback)

    @torch.no_grad()
    def update(self, indices: Tensor, values: Tensor, momentum: float) -> None:
        """Move the entries of samples ``indices [N]`` towards ``values [N, dim]``."""
        values = F.normalize(values.to(self.memory.dtype), dim=1)
        mixed = F.normalize(momentum * self.memory[indices] + (1 - momentum) * values, dim=1)
        self.memory[indices] = torch.where(self.written[indices, None], mixed, values)
        self.written[indices] = True

    def sample(self, k: int, exclude: Tensor | None = None) -> Tensor | None:
        """``k`` written entries drawn uniformly with replacement, never the rows
        ``exclude [N]`` (all of the others if at most ``k`` are left; ``None`` if none is)."""
        available = self.written
        if exclude is not None:
            available = available.clone()
            available[exclude] = False
        rows = available.nonzero().flatten()
        if len(rows) == 0:
            return None
        if len(rows) <= k:
            return self.memory[rows].clone()
        return self.memory[rows[torch.randint(len(rows), (k,), device=rows.device)]]


class PIRL(AugmentsOnDevice, ContrastiveTask):
    r"""The representation of an image should be invariant to its jigsaw transform.

    .. math::
        \mathcal{L} = \lambda\, L_{\mathrm{NCE}}\big(m_I, g(v_{I^t})\big)
            + (1 - \lambda)\, L_{\mathrm{NCE}}\big(m_I, f(v_I)\big)

    ``f(v_I)``: encoder + linear projection of the (augmented) image; ``g(v_{I^t})``:
    each of the ``n`` shuffled tiles of another augmented view encoded by the same
    encoder, projected, concatenated (``n * proj_dim``) and projected again; ``m_I``: the
    image's memory-bank entry (:class:`MemoryBank`, one row per pretraining sample, updated
    with ``f(v_I)`` and momentum ``bank_momentum`` after each step; ``f(v_I)`` itself
    before the image's first update). ``L_NCE`` is :func:`sslcore.info_nce` with the
    memory entry as key and ``num_negatives`` entries drawn uniformly from the bank as
    shared negatives -- never the entries of the batch's own images, so no query meets its
    positive among its negatives (the paper's :math:`I' \ne I`), however small the bank --
    or, while the bank holds no other entry, the batch's other memory entries.

    ``needs_indices``: the trainer passes ``(index, image)`` pairs, ``index`` the image's
    position in the pretraining set. Batch: ``(indices [N], images [N, C, S, S],
    tiles [N, n, C, t, t])`` built by :meth:`collate` from ``N`` such pairs of uint8
    images, or with ``augment_on`` on the device (as the view tasks':
    :class:`~sslcore_vision.tasks.image_views.ImageViewsTask`) by
    :meth:`on_after_batch_transfer` from ``(indices, stacked images)``.
    ``embed(images) -> [N, output_dim]`` is the encoder output.
    """

    domain = "vision"
    signal = "invariance of an image's representation to its jigsaw transform"
    family = "instance-instance"
    negatives = "memory-bank"
    encoder_requirements = TILE_REQUIREMENT
    needs_indices = True

    def __init__(
        self,
        encoder: nn.Module,
        augmentation: Callable[[Tensor], Tensor],
        tiles: TileGrid,
        num_samples: int,
        proj_dim: Annotated[int, Ge(1)] = 128,
        temperature: Annotated[float, Gt(0)] = 0.07,
        loss_weight: Annotated[float, Interval(ge=0, le=1)] = 0.5,
        bank_momentum: Annotated[float, Interval(ge=0, le=1)] = 0.5,
        num_negatives: Annotated[int, Ge(1)] = 4096,
        augment_on: AugmentOn = "auto",
    ):
        super().__init__(encoder, head=nn.Linear(encoder.output_dim, proj_dim))
        self.tile_head = nn.Linear(encoder.output_dim, proj_dim)
        self.puzzle_head = nn.Linear(tiles.num_tiles * proj_dim, proj_dim)
        self.bank = MemoryBank(num_samples, proj_dim)
        self.augmentation, self.tiles = augmentation, tiles
        self.temperature, self.loss_weight = temperature, loss_weight
        self.bank_momentum, self.num_negatives = bank_momentum, num_negatives
        self.pending: list[tuple[Tensor, Tensor]] = []
        self.views = ViewsCollate([augmentation] * 2)  # the image's view, then the view cut into tiles
        self.augment_on = augment_on
        self.device_views = device_views(self.views, augment_on, "PIRL")

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        grid: Annotated[int, Ge(2)] = 3,
        gap: Annotated[float, Interval(ge=0, lt=1)] = 0.15,
        patch_jitter: Annotated[float, Interval(ge=0, le=1)] = 1.0,
        min_tile_size: Annotated[int, Ge(0)] = 8,
        crop_min_scale: Annotated[float, Interval(gt=0, le=1)] = 0.2,
        jitter: Annotated[float, Ge(0)] = 0.5,
        **options: Any,
    ) -> PIRL:
        """Views as in SimCLR (``crop_min_scale``, colour ``jitter``), tiles as in
        jigsaw, a memory bank of ``info["num_pretrain_samples"]`` rows (``build_task``
        sets it); other options go to ``__init__``. Too small images or a missing or
        empty pretraining set size raise ``ConfigError``."""
        facts = image_facts(encoder, info, "pirl")
        tiles = TileGrid(facts.image_size, grid, gap, patch_jitter, min_tile_size).check("pirl")
        require_whole_patch(encoder, tiles.output_size, "pirl")
        num_samples = info.get("num_pretrain_samples")
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ConfigError(
                f"pirl keeps one memory-bank entry per pretraining sample, so it needs "
                f"info['num_pretrain_samples'] (a positive int, got {num_samples!r}); build it "
                f"with sslcore.build.build_task, which sets it from the dataset"
            )
        augmentation = simclr_augmentation(*facts, crop_min_scale=crop_min_scale, jitter=jitter)
        return cls(encoder, augmentation, tiles, num_samples, **options)

    def collate(
        self, samples: Sequence[tuple[int, Tensor]]
    ) -> tuple[Tensor, Tensor, Tensor] | tuple[Tensor, StackedImages]:
        indices = torch.tensor([index for index, _ in samples], dtype=torch.long)
        bank_size = len(self.bank.memory)
        outside = indices[(indices < 0) | (indices >= bank_size)]
        if len(outside):
            raise ConfigError(
                f"pirl: sample index {int(outside[0])} is outside its memory bank of "
                f"{bank_size} entries; build the task for the dataset it trains on"
            )
        images = [image for _, image in samples]
        if self.augments_on_device:
            return indices, StackedImages(torch.stack(images))
        views, tile_source = self.views(images)
        return indices, views, self.shuffled_tiles(tile_source)

    def on_after_batch_transfer(self, batch: Any) -> Any:
        """``(indices, stacked images)`` -> ``(indices, views, shuffled tiles)``, drawn on the
        images' device; a batch with views passes through."""
        if len(batch) != 2 or not isinstance(batch[1], StackedImages) or self.device_views is None:
            return batch
        views, tile_source = self.device_views(batch[1].images)
        return batch[0], views, self.shuffled_tiles(tile_source)

    def shuffled_tiles(self, images: Tensor) -> Tensor:
        """The tiles of ``images [N, C, S, S]``, in a random order per image: ``[N, n, C, t, t]``."""
        tiles = self.tiles.extract(images)
        order = torch.rand(len(tiles), self.tiles.num_tiles, device=tiles.device).argsort(dim=1)
        return shuffle_tiles(tiles, order)

    def forward(self, batch: tuple[Tensor, Tensor, Tensor] | tuple[Tensor, StackedImages]) -> TaskOutput:
        indices, images, tiles = self.on_after_batch_transfer(batch)
        v_image = self.head(self.encoder(images))  # [N, proj_dim]
        v_tiles = self.tile_head(self.encoder(tiles.flatten(0, 1)))  # [N * n, proj_dim]
        v_puzzle = self.puzzle_head(v_tiles.view(len(tiles), -1))  # [N, proj_dim]
        memory = self.bank.entries(indices, F.normalize(v_image.detach(), dim=1))
        negatives = self.bank.sample(self.num_negatives, exclude=indices)
        puzzle_loss = info_nce(v_puzzle, memory, negatives, temperature=self.temperature)
        image_loss = info_nce(v_image, memory, negatives, temperature=self.temperature)
        loss = self.loss_weight * puzzle_loss + (1 - self.loss_weight) * image_loss
        if self.training:
            self.pending.append((indices, v_image.detach()))
        similarity = F.cosine_similarity(v_puzzle.detach(), memory).mean()
        return TaskOutput(loss, {"puzzle_memory_cosine": similarity})

    def on_train_step_end(self, progress: float) -> None:
        """Write the step's image representations into the memory bank."""
        for indices, values in self.pending:
            self.bank.update(indices, values, self.bank_momentum)
        self.pending.clear()
