"""Jigsaw puzzles (Noroozi & Favaro 2016, "Unsupervised Learning of Visual
Representations by Solving Jigsaw Puzzles")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import torch
from annotated_types import Ge, Interval
from torch import Tensor, nn

from sslcore.data import info_get
from sslcore_vision.encoders import TILE_REQUIREMENT, require_whole_patch
from sslcore_vision.heads import classification_head
from sslcore_vision.patches import TileGrid, hamming_permutations, shuffle_tiles
from sslcore_vision.tasks.pseudo_label import PseudoLabelTask, checked_normaliser


class Jigsaw(PseudoLabelTask):
    r"""Recognise which permutation of a fixed set shuffled an image's tiles.

    .. math::
        \mathcal{L} = \frac{1}{N} \sum_i \mathrm{CE}\big(
            h([f(x_i^{\pi_{y_i}(1)}) \,\|\, \dots \,\|\, f(x_i^{\pi_{y_i}(n)})]),\, y_i\big),
        \qquad y_i \sim \mathcal{U}\{1, \dots, P\}

    ``x^k`` are the ``n = grid^2`` tiles (:class:`~sslcore_vision.patches.TileGrid`, a
    random crop inside each cell), :math:`\pi_1..\pi_P` the permutation set of
    :func:`~sslcore_vision.patches.hamming_permutations` (buffer ``permutations [P, n]``;
    position ``j`` of the puzzle shows tile :math:`\pi(j)`), ``f`` the shared (siamese)
    encoder and ``h`` an MLP ``n * output_dim -> P``.

    Batch: ``(puzzles [N, n, C, t, t], labels [N])`` built by :meth:`collate` from ``N``
    uint8 images ``[C, S, S]``. ``embed(images [N, C, S, S]) -> [N, output_dim]`` is the
    encoder output of the whole image.
    """

    signal = "permutation of shuffled image tiles"
    encoder_requirements = TILE_REQUIREMENT
    permutations: Tensor

    def __init__(
        self,
        encoder: nn.Module,
        tiles: TileGrid,
        normalise: Callable[[Tensor], Tensor],
        permutations: Tensor,
        hidden_dim: Annotated[int, Ge(1)] = 512,
    ):
        if permutations.shape[1] != tiles.num_tiles:
            raise ValueError(
                f"jigsaw: permutations of {permutations.shape[1]} items for {tiles.num_tiles} tiles"
            )
        head = classification_head(tiles.num_tiles * encoder.output_dim, len(permutations), hidden_dim)
        super().__init__(encoder, head=head)
        self.tiles, self.normalise = tiles, normalise
        self.register_buffer("permutations", permutations)
        # collate runs on the CPU in DataLoader workers, where the buffer may be on a GPU:
        # it reads this host copy (kept equal to the buffer when a state dict is loaded)
        self.permutation_table = permutations.cpu().numpy()
        self.register_load_state_dict_post_hook(Jigsaw._copy_table)

    @staticmethod
    def _copy_table(module: nn.Module, incompatible_keys: Any) -> None:
        module.permutation_table = module.permutations.cpu().numpy()

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        num_permutations: Annotated[int, Ge(1)] = 100,
        grid: Annotated[int, Ge(2)] = 3,
        gap: Annotated[float, Interval(ge=0, lt=1)] = 0.15,
        patch_jitter: Annotated[float, Interval(ge=0, le=1)] = 1.0,
        min_tile_size: Annotated[int, Ge(0)] = 8,
        hidden_dim: Annotated[int, Ge(1)] = 512,
        seed: int = 0,
    ) -> Jigsaw:
        """Tiles from ``info["image_size"]`` (Noroozi: 64 px crops in 75 px cells, so
        ``gap=0.15``, ``patch_jitter=1``); the permutation set is fixed by ``seed``.
        Too small images raise ``ConfigError``."""
        tiles = TileGrid(info_get(info, "image_size"), grid, gap, patch_jitter, min_tile_size).check("jigsaw")
        require_whole_patch(encoder, tiles.output_size, "jigsaw")
        normalise = checked_normaliser(encoder, info, "jigsaw")
        permutations = hamming_permutations(num_permutations, tiles.num_tiles, seed)
        return cls(encoder, tiles, normalise, permutations, hidden_dim=hidden_dim)

    def collate(self, samples: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        tiles = self.tiles.extract(self.normalise(torch.stack(list(samples))))
        labels = torch.randint(len(self.permutation_table), (len(tiles),))
        return shuffle_tiles(tiles, torch.from_numpy(self.permutation_table)[labels]), labels

    def logits(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        puzzles, labels = batch
        features = self.encoder(puzzles.flatten(0, 1))  # [N * n, output_dim]
        return self.head(features.view(len(puzzles), -1)), labels
