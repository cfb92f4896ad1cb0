"""Discriminators for the generative-contrastive (adversarial) vision tasks."""

from __future__ import annotations

from torch import Tensor, nn


class PatchDiscriminator(nn.Module):
    """A small PatchGAN critic (Isola et al. 2017): two 4x4 stride-2 convolutions with
    LeakyReLU(0.2) (no normalisation, so real and fake batches do not share statistics)
    and a 3x3 convolution to one logit per receptive-field patch.

    Shapes: ``[N, in_channels, H, W] -> [N, 1, H/4, W/4]`` logits (real = 1); ``H, W >= 4``.
    """

    def __init__(self, in_channels: int, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * width, 1, 3, padding=1),
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)
