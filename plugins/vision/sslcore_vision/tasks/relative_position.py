"""Relative patch position (Doersch et al. 2015, "Unsupervised Visual Representation
Learning by Context Prediction")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import torch
from annotated_types import Ge, Interval
from torch import Tensor, nn

from sslcore.data import info_get
from sslcore_vision.encoders import TILE_REQUIREMENT, require_whole_patch
from sslcore_vision.heads import classification_head
from sslcore_vision.patches import TileGrid
from sslcore_vision.tasks.pseudo_label import PseudoLabelTask, checked_normaliser

CENTRE = 4
#: label ``l`` -> row-major cell of the neighbour in the 3x3 grid (the centre, 4, is skipped)
NEIGHBOURS = torch.tensor([0, 1, 2, 3, 5, 6, 7, 8])


def neighbour_offset(label: int) -> tuple[int, int]:
    """Grid offset ``(rows, columns)`` of neighbour ``label`` from the centre, in ``{-1, 0, 1}``."""
    cell = int(NEIGHBOURS[label])
    return cell // 3 - 1, cell % 3 - 1


class RelativePosition(PseudoLabelTask):
    r"""Predict where a patch lies relative to the centre patch of a 3x3 grid.

    .. math::
        \mathcal{L} = \frac{1}{N} \sum_i
            \mathrm{CE}\big(h([f(p_i^{c}) \,\|\, f(p_i^{l_i})]),\, l_i\big),
        \qquad l_i \sim \mathcal{U}\{0, \dots, 7\}

    ``p^c`` is the centre patch and ``p^l`` its neighbour ``l`` (:data:`NEIGHBOURS`);
    patches are cut with gaps and jitter by :class:`~sslcore_vision.patches.TileGrid` so
    that edges do not line up; ``f`` is the shared encoder, ``h`` an MLP
    ``2 * output_dim -> 8``.

    Batch: ``(centres [N, C, t, t], neighbours [N, C, t, t], labels [N])`` built by
    :meth:`collate` from ``N`` uint8 images ``[C, S, S]``.
    ``embed(images [N, C, S, S]) -> [N, output_dim]`` is the encoder output of the whole image.
    """

    signal = "position of a patch relative to the centre patch"
    encoder_requirements = TILE_REQUIREMENT

    def __init__(
        self,
        encoder: nn.Module,
        tiles: TileGrid,
        normalise: Callable[[Tensor], Tensor],
        hidden_dim: Annotated[int, Ge(1)] = 512,
    ):
        if tiles.grid != 3:
            raise ValueError(f"relative_position needs a 3x3 grid, got {tiles.grid}x{tiles.grid}")
        super().__init__(
            encoder, head=classification_head(2 * encoder.output_dim, len(NEIGHBOURS), hidden_dim)
        )
        self.tiles, self.normalise = tiles, normalise

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        gap: Annotated[float, Interval(ge=0, lt=1)] = 0.33,
        patch_jitter: Annotated[float, Interval(ge=0, le=1)] = 0.3,
        min_tile_size: Annotated[int, Ge(0)] = 8,
        hidden_dim: Annotated[int, Ge(1)] = 512,
    ) -> RelativePosition:
        """Patch geometry from ``info["image_size"]``: ``gap`` and ``patch_jitter`` as in
        :class:`~sslcore_vision.patches.TileGrid` (Doersch: a gap of half a patch,
        jitter of a few pixels); too small images raise ``ConfigError``."""
        tiles = TileGrid(info_get(info, "image_size"), 3, gap, patch_jitter, min_tile_size)
        require_whole_patch(encoder, tiles.output_size, "relative_position")
        normalise = checked_normaliser(encoder, info, "relative_position")
        return cls(encoder, tiles.check("relative_position"), normalise, hidden_dim=hidden_dim)

    def collate(self, samples: Sequence[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        tiles = self.tiles.extract(self.normalise(torch.stack(list(samples))))
        labels = torch.randint(len(NEIGHBOURS), (len(tiles),))
        return tiles[:, CENTRE], tiles[torch.arange(len(tiles)), NEIGHBOURS[labels]], labels

    def logits(self, batch: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        centres, neighbours, labels = batch
        z_centre, z_neighbour = self.encoder(torch.cat([centres, neighbours])).chunk(2)
        return self.head(torch.cat([z_centre, z_neighbour], dim=1)), labels
