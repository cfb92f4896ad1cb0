"""Colorization (Zhang et al. 2016, "Colorful Image Colorization"), simplified to
regression of the a*b* channels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, NamedTuple

import torch
import torch.nn.functional as F
from annotated_types import Ge
from torch import Tensor, nn

from sslcore import ConfigError, GenerativeTask, TaskOutput
from sslcore.data import info_get
from sslcore_vision.colour import AB_SCALE, L_CENTRE, L_SCALE, rgb_to_lab
from sslcore_vision.decoders import ImageDecoder, encoder_feature_map


class ColourBatch(NamedTuple):
    """``lightness``: L scaled to [-1, 1], ``[N, 1, H, W]``; ``ab``: a*b* / 110,
    ``[N, 2, H, W]`` (about [-1, 1])."""

    lightness: Tensor
    ab: Tensor


def split_lab(rgb: Tensor) -> ColourBatch:
    """sRGB in [0, 1] ``[N, 3, H, W]`` -> scaled lightness and colour channels."""
    lab = rgb_to_lab(rgb)
    return ColourBatch((lab[:, :1] - L_CENTRE) / L_SCALE, lab[:, 1:] / AB_SCALE)


def require_colour(info: Mapping[str, Any], task: str) -> None:
    """Raise :class:`~sslcore.ConfigError` unless the dataset has 3-channel RGB images
    with colour in them (``info["grey"]``, when given, is false)."""
    channels = info_get(info, "in_channels")
    if channels == 3 and info.get("grey"):
        raise ConfigError(
            f"{task} needs colour images, but the dataset's 3-channel images are grey (R = G = B at every "
            "pixel), so there is no colour to predict; pick a dataset with colour photos, or a task that "
            "works on grey images (inpainting, masked_denoising)"
        )
    if channels != 3:
        raise ConfigError(
            f"{task} needs colour images (3-channel RGB) but the dataset has {channels} channel(s); "
            f"pick a colour dataset (RGB images, e.g. cifar10, stl10 or an image-folder), or a task that works on "
            f"grey images (inpainting, masked_denoising)"
        )


def lightness_encoder_info(info: Mapping[str, Any], task: str) -> dict[str, Any]:
    """The colour tasks' ``encoder_info``: the encoder sees the lightness channel only,
    so a registered one is built with ``in_channels=1`` (after :func:`require_colour`)."""
    require_colour(info, task)
    return {**info, "in_channels": 1}


def require_lightness_encoder(encoder: nn.Module, task: str) -> None:
    """Raise :class:`~sslcore.ConfigError` unless ``encoder`` takes 1-channel images (an
    encoder that does not declare ``in_channels`` is not checked)."""
    channels = getattr(encoder, "in_channels", None)
    if channels is not None and int(channels) != 1:
        raise ConfigError(
            f"{task}: the encoder takes {channels}-channel images but is fed the lightness channel "
            f"(L) only; build it with in_channels=1, e.g. "
            f"build_encoder('small_cnn', {{**bundle.info, 'in_channels': 1}}) (a registered encoder "
            f"named to build_task or `sslcore pretrain` gets it automatically)"
        )


class Colorization(GenerativeTask):
    r"""Predict the colour of an image from its lightness in CIE L*a*b*.

    .. math::
        (L, ab) = \text{Lab}(x),\qquad \hat{ab} = g(f_{map}(L)),\qquad
        \mathcal{L} = \frac{1}{2HW} \sum \lVert \hat{ab} - ab \rVert^2

    with ``L`` scaled to [-1, 1] and ``ab`` to about [-1, 1] (divided by 110). Zhang et al.
    classify ``ab`` into 313 quantised bins with class rebalancing; this plain regression
    gives greyer colours but the same pretext signal and needs no bin statistics.

    The encoder takes 1 channel (``L``) and never sees colour: :meth:`encoder_info` builds
    a registered encoder with ``in_channels=1``. Batch: :class:`ColourBatch` from
    :meth:`collate`; prediction ``[N, 2, H, W]``. ``embed`` takes normalised RGB images ``[N, 3, H, W]`` (as the
    evaluation sets give them), converts them to ``L`` and returns ``[N, output_dim]``.
    """

    domain = "vision"
    signal = "colour (a*b*) from lightness (L)"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__(encoder, decoder)
        for name, values in (("mean", mean), ("std", std)):  # [1, 3, 1, 1], to undo the normalisation
            self.register_buffer(
                name, torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1), persistent=False
            )

    @classmethod
    def encoder_info(cls, info: Mapping[str, Any]) -> dict[str, Any]:
        """``{**info, "in_channels": 1}`` for colour data (``ConfigError`` for grey data)."""
        return lightness_encoder_info(info, "colorization")

    @classmethod
    def from_data(
        cls, encoder: nn.Module, info: Mapping[str, Any], decoder_width: Annotated[int, Ge(1)] = 32
    ) -> Colorization:
        """Refuse grey data and encoders that do not take 1 channel."""
        require_colour(info, "colorization")
        require_lightness_encoder(encoder, "colorization")
        decoder = ImageDecoder.for_encoder(encoder, 1, info_get(info, "image_size"), 2, width=decoder_width)
        return cls(encoder, decoder, info_get(info, "mean"), info_get(info, "std"))

    def collate(self, samples: Sequence[Tensor]) -> ColourBatch:
        """uint8 RGB images ``[3, H, W]`` -> :class:`ColourBatch`."""
        return split_lab(torch.stack(list(samples)).float() / 255)

    def predict(self, batch: ColourBatch) -> Tensor:
        """The predicted colour channels ``[N, 2, H, W]``."""
        features = encoder_feature_map(self.encoder, batch.lightness)
        return self.decoder(features, tuple(batch.lightness.shape[-2:]))

    def reconstruction_loss(self, prediction: Tensor, batch: ColourBatch) -> Tensor:
        return F.mse_loss(prediction, batch.ab)

    def forward(self, batch: ColourBatch) -> TaskOutput:
        return TaskOutput(self.reconstruction_loss(self.predict(batch), batch))

    def embed(self, images: Tensor) -> Tensor:
        rgb = (images * self.std + self.mean).clamp(0, 1)
        return self.encoder(split_lab(rgb).lightness)
