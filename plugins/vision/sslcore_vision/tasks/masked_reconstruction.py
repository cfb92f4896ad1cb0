"""The shared part of hide-and-reconstruct image tasks (inpainting, masked denoising)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from torch import Tensor, nn

from sslcore import GenerativeTask, TaskOutput
from sslcore.data import info_get
from sslcore_vision.channels import check_encoder_channels
from sslcore_vision.decoders import ImageDecoder, encoder_feature_map
from sslcore_vision.masks import MaskedBatch, MaskedImageCollate, masked_mse

T = TypeVar("T", bound="MaskedReconstruction")


class MaskedReconstruction(GenerativeTask):
    r"""Hide pixels of each image and reconstruct them from what is left.

    .. math::
        \tilde x = (1 - m) \odot x + m \cdot \text{fill},\qquad
        \hat x = g(f_{map}(\tilde x)),\qquad
        \mathcal{L} = \text{masked\_mse}(\hat x, x, m, \lambda_{out})

    with encoder feature map ``f_map``, :class:`~sslcore_vision.decoders.ImageDecoder`
    ``g`` and :func:`~sslcore_vision.masks.masked_mse` (hidden pixels weight 1, visible
    pixels ``outside_weight``). Subclasses choose the mask distribution.

    Batch: :class:`~sslcore_vision.masks.MaskedBatch` ``(images, masks, targets)`` from
    :meth:`collate`; the prediction is ``[N, C, H, W]`` normalised pixels.
    ``embed(images [N, C, H, W]) -> [N, output_dim]`` encodes the unmasked image.
    """

    domain = "vision"

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        masking: Callable[[Sequence[Tensor]], MaskedBatch],
        outside_weight: float = 0.0,
    ):
        super().__init__(encoder, decoder)
        self.masking = masking
        self.outside_weight = outside_weight

    @classmethod
    def build(
        cls: type[T],
        encoder: nn.Module,
        info: Mapping[str, Any],
        mask: Callable[[int, int, int], Tensor],
        outside_weight: float = 0.0,
        decoder_width: int = 32,
    ) -> T:
        """Check the encoder takes the data's channels, then build the collate that
        draws ``mask`` and a decoder from the encoder's feature map to the image."""
        channels, size = info_get(info, "in_channels"), info_get(info, "image_size")
        check_encoder_channels(encoder, info, cls.__name__)
        decoder = ImageDecoder.for_encoder(encoder, channels, size, channels, width=decoder_width)
        masking = MaskedImageCollate(mask, info_get(info, "mean"), info_get(info, "std"))
        return cls(encoder, decoder, masking, outside_weight=outside_weight)

    def collate(self, samples: Sequence[Tensor]) -> MaskedBatch:
        return self.masking(samples)

    def predict(self, batch: MaskedBatch) -> Tensor:
        """The reconstructed images ``[N, C, H, W]`` from the masked inputs."""
        return self.decoder(encoder_feature_map(self.encoder, batch.images), tuple(batch.images.shape[-2:]))

    def reconstruction_loss(self, prediction: Tensor, batch: MaskedBatch) -> Tensor:
        return masked_mse(prediction, batch.targets, batch.masks, self.outside_weight)

    def forward(self, batch: MaskedBatch) -> TaskOutput:
        loss = self.reconstruction_loss(self.predict(batch), batch)
        return TaskOutput(loss, {"masked_fraction": batch.masks.float().mean()})
