"""MAE (He et al. 2022, "Masked Autoencoders Are Scalable Vision Learners")."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import torch
from annotated_types import Ge, Interval, MultipleOf
from torch import Tensor, nn

from sslcore import ConfigError, GenerativeTask, TaskOutput
from sslcore_vision.batched import StackedImages
from sslcore_vision.decoders import MAEDecoder
from sslcore_vision.masks import PatchShuffle, hidden_patch_mse, kept_patches, random_patch_shuffle
from sslcore_vision.patches import normalise_patches, patchify
from sslcore_vision.tasks.image_views import AugmentOn, AugmentsOnDevice, device_views, image_facts
from sslcore_vision.transforms import ViewsCollate, view_augmentation

ENCODER_FIX = "use a ViT encoder: --encoder vit_tiny (or vit_small, vit)"


def token_geometry(encoder: nn.Module) -> tuple[int, tuple[int, int]]:
    """``(patch_size, (rows, columns))`` of a ViT-like encoder's patch grid; raises
    :class:`~sslcore.ConfigError` for an encoder without ``tokens(images, keep)``, ``grid``
    and square ``patch_size``."""
    if not callable(getattr(encoder, "tokens", None)) or not hasattr(encoder, "grid"):
        raise ConfigError(
            f"mae: the encoder {type(encoder).__name__} has no tokens(images, keep) method and patch "
            f"grid, which MAE needs to run it on the visible patches only; {ENCODER_FIX}"
        )
    size = encoder.patch_size
    if not isinstance(size, int):
        if len(set(size)) != 1:
            raise ConfigError(f"mae: patches must be square, the encoder's are {tuple(size)}")
        size = size[0]
    rows, columns = encoder.grid
    return int(size), (int(rows), int(columns))


def largest_ratio(num_patches: int) -> float:
    """The largest mask ratio with two decimals that keeps at least one of ``num_patches``."""
    ratio = math.floor(100 * (1 - 1 / num_patches)) / 100
    while kept_patches(num_patches, ratio) < 1:
        ratio = round(ratio - 0.01, 2)
    return ratio


class MAE(AugmentsOnDevice, GenerativeTask):
    r"""Reconstruct the pixels of randomly hidden patches from the visible ones.

    .. math::
        \mathcal{V} \subset \{1..N\},\ |\mathcal{V}| = \lfloor N (1 - r) \rfloor
        \text{ uniformly at random}, \qquad
        \hat x = g(f(x_{\mathcal{V}})), \qquad
        \mathcal{L} = \frac{1}{|\bar{\mathcal{V}}|} \sum_{i \notin \mathcal{V}}
            \tfrac{1}{P}\lVert \hat x_i - \tilde x_i \rVert^2

    with the ``N`` patches of ``P = p^2 C`` pixels of an image
    (:func:`~sslcore_vision.patches.patchify`), mask ratio ``r``, a ViT encoder ``f`` that
    runs on the visible patches only (``encoder.tokens(images, keep)``, position embeddings
    added before the dropping), the light decoder ``g`` (:class:`~sslcore_vision.decoders.MAEDecoder`: mask
    tokens for the hidden patches, fixed 2D sine-cosine positions, ``decoder_depth``
    Transformer blocks, a linear map to pixels), and target :math:`\tilde x_i` the patch
    standardised over its own pixels (``norm_pix_loss``; else the normalised pixels).

    Batch: the augmented images ``[B, C, H, W]`` float (random resized crop, area in
    ``[crop_min_scale, 1]``, and horizontal flip, as the paper; drawn on the CPU in
    :meth:`collate` or on the device, see ``augment_on`` of
    :class:`~sslcore_vision.tasks.image_views.ImageViewsTask`); the masks are drawn in
    :meth:`forward`. ``embed(images [B, C, H, W]) -> [B, output_dim]``: the encoder's [CLS]
    token of the whole, unmasked image.
    """

    domain = "vision"
    signal = "normalised pixels of randomly hidden patches"

    def __init__(
        self,
        encoder: nn.Module,
        augmentation: Callable[[Tensor], Tensor],
        in_channels: int,
        mask_ratio: Annotated[float, Interval(gt=0, lt=1)] = 0.75,
        decoder_embed_dim: Annotated[int, Ge(4), MultipleOf(4)] = 128,
        decoder_depth: Annotated[int, Ge(1)] = 2,
        decoder_num_heads: Annotated[int, Ge(1)] = 4,
        norm_pix_loss: bool = True,
        augment_on: AugmentOn = "auto",
    ):
        patch_size, grid = token_geometry(encoder)
        num_patches = grid[0] * grid[1]
        if num_patches < 2:
            raise ConfigError(
                f"mae: the encoder cuts each image into {num_patches} patch, so none can be hidden; "
                "build it with a smaller patch_size (--encoder-opt patch_size=...)"
            )
        num_keep = kept_patches(num_patches, mask_ratio)
        if num_keep < 1:
            raise ConfigError(
                f"mae: mask_ratio {mask_ratio} keeps int({num_patches} * (1 - {mask_ratio})) = 0 of the "
                f"{num_patches} patches; use mask_ratio <= {largest_ratio(num_patches)} or a smaller "
                "patch_size (--encoder-opt patch_size=...)"
            )
        if decoder_embed_dim % decoder_num_heads:
            raise ConfigError(
                f"mae: decoder_embed_dim {decoder_embed_dim} is not a multiple of decoder_num_heads "
                f"{decoder_num_heads}"
            )
        decoder = MAEDecoder(
            encoder.embed_dim,
            grid,
            patch_size**2 * in_channels,
            decoder_embed_dim,
            decoder_depth,
            decoder_num_heads,
        )
        super().__init__(encoder, decoder)
        self.patch_size, self.num_patches, self.num_keep = patch_size, num_patches, num_keep
        self.mask_ratio, self.norm_pix_loss = mask_ratio, norm_pix_loss
        self.views, self.augment_on = ViewsCollate([augmentation]), augment_on
        self.device_views = device_views(self.views, augment_on, type(self).__name__)

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        crop_min_scale: Annotated[float, Interval(gt=0, le=1)] = 0.2,
        **options: Any,
    ) -> MAE:
        """The paper's augmentation for ``info`` (``image_size``, ``in_channels``, ``mean``,
        ``std``): random resized crop of at least ``crop_min_scale`` of the area, flip,
        normalisation; checks the encoder's channels and patch grid fit the images."""
        facts = image_facts(encoder, info, "mae")
        patch_size, grid = token_geometry(encoder)
        if (grid[0] * patch_size, grid[1] * patch_size) != (facts.image_size, facts.image_size):
            raise ConfigError(
                f"mae: the encoder cuts {grid[0] * patch_size}x{grid[1] * patch_size} images into "
                f"{patch_size}x{patch_size} patches but the data's images are "
                f"{facts.image_size}x{facts.image_size}; build the encoder for this dataset"
            )
        augmentation = view_augmentation(
            *facts, scale=(crop_min_scale, 1.0), jitter=(0.0, 0.0, 0.0, 0.0), grayscale_p=0.0
        )
        return cls(encoder, augmentation, facts.channels, **options)

    def collate(self, samples: Sequence[Tensor]) -> Tensor | StackedImages:
        if self.augments_on_device:
            return StackedImages(torch.stack(list(samples)))
        return self.views(samples)[0]

    def on_after_batch_transfer(self, batch: Any) -> Any:
        """Stacked uint8 images -> augmented images, drawn on their device."""
        if isinstance(batch, StackedImages) and self.device_views is not None:
            return self.device_views(batch.images)[0]
        return batch

    def predict(self, images: Tensor, shuffle: PatchShuffle) -> Tensor:
        """Pixels of every patch ``[B, N, p^2 C]`` from the patches ``shuffle`` keeps."""
        return self.decoder(self.encoder.tokens(images, keep=shuffle.keep), shuffle.restore)

    def targets(self, images: Tensor) -> Tensor:
        """The patches ``[B, N, p^2 C]`` to reconstruct, standardised per patch if
        ``norm_pix_loss``."""
        patches = patchify(images, self.patch_size)
        return normalise_patches(patches) if self.norm_pix_loss else patches

    def forward(self, batch: Tensor | StackedImages) -> TaskOutput:
        images = self.on_after_batch_transfer(batch)
        shuffle = random_patch_shuffle(len(images), self.num_patches, self.num_keep, device=images.device)
        loss = hidden_patch_mse(self.predict(images, shuffle), self.targets(images), shuffle.hidden)
        return TaskOutput(loss, {"masked_fraction": shuffle.hidden.float().mean()})
