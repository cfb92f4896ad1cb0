"""Image decoders for generative tasks: the encoder's feature map (or, for MAE, its patch
tokens) back to pixels."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sslcore_vision.masks import gather_tokens


def encoder_feature_map(encoder: nn.Module, images: Tensor) -> Tensor:
    """``encoder.feature_map(images)`` ``[N, C, h, w]``; an encoder without one gives its
    pooled output as a 1x1 map, ``[N, output_dim, 1, 1]``."""
    if hasattr(encoder, "feature_map"):
        return encoder.feature_map(images)
    return encoder(images)[:, :, None, None]


def up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """4x4 transposed convolution with stride 2 (doubles H and W) -> BatchNorm -> ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ImageDecoder(nn.Module):
    """Upsampling convolutional decoder (the context encoder's decoder, Pathak et al. 2016).

    ``n = floor(log2(image_size / min(h, w)))`` :func:`up_block` stages with widths
    ``width * 2^(n-1), ..., 2 width, width``, a bilinear resize to exactly ``(H, W)``
    (needed when ``H`` is not ``h * 2^n``, e.g. 28 from 2: three stages to 16, then 28)
    and a 3x3 convolution to ``out_channels`` at full resolution. Rounding the stages down
    keeps the decoder cheaper than the encoder on small images. Runs in ``channels_last``
    like :class:`~sslcore_vision.encoders.small_cnn.SmallCNN`. No output activation:
    targets are normalised pixels or colours.

    Shapes: ``[N, in_channels, h, w] -> [N, out_channels, H, W]``; ``size`` defaults
    to ``(image_size, image_size)``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, feature_size: int, image_size: int, width: int = 32
    ):
        super().__init__()
        stages = max(0, math.floor(math.log2(image_size / feature_size)))
        widths = [in_channels] + [width * 2**i for i in reversed(range(stages))]
        self.up = nn.Sequential(*(up_block(c_in, c_out) for c_in, c_out in zip(widths, widths[1:])))
        self.head = nn.Conv2d(widths[-1], out_channels, 3, padding=1)
        self.image_size = image_size
        self.to(memory_format=torch.channels_last)

    @classmethod
    def for_encoder(
        cls, encoder: nn.Module, in_channels: int, image_size: int, out_channels: int, width: int = 32
    ) -> ImageDecoder:
        """A decoder from ``encoder``'s feature map (probed on ``image_size`` inputs with
        ``in_channels`` channels, a batch of two zero images in eval mode, the training mode
        restored) to ``out_channels`` x ``image_size`` x ``image_size``."""
        was_training, parameter = encoder.training, next(encoder.parameters(), None)
        device = parameter.device if parameter is not None else None
        encoder.eval()
        try:
            with torch.no_grad():
                probe = torch.zeros(2, in_channels, image_size, image_size, device=device)
                channels, height, width_ = encoder_feature_map(encoder, probe).shape[1:]
        finally:
            encoder.train(was_training)
        return cls(channels, out_channels, min(height, width_), image_size, width=width)

    def forward(self, features: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        size = size or (self.image_size, self.image_size)
        out = self.up(features)
        if tuple(out.shape[-2:]) != tuple(size):
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return self.head(out)


class MAEDecoder(nn.Module):
    r"""MAE's light Transformer decoder (He et al. 2022): the visible tokens of an encoder
    plus a shared, learned mask token for every hidden patch, back in patch order, to the
    pixels of every patch.

    .. math::
        u = \text{unshuffle}([W_e h_{1..K};\ \underbrace{m, \dots, m}_{N-K}]), \qquad
        \hat x = W_p\,\text{LN}(\text{Blocks}([W_e h_{cls};\ u] + E_{pos}))_{1..N}

    with ``depth`` timm ViT :class:`~timm.models.vision_transformer.Block` s of width
    ``embed_dim`` and ``num_heads`` heads, and fixed 2D sine-cosine position embeddings
    :math:`E_{pos}` (timm's ``build_sincos2d_pos_embed``; zero for the [CLS] token), as
    the reference code. Linear layers start Xavier-uniform, the mask token
    :math:`\mathcal{N}(0, 0.02^2)`.

    Shapes: ``tokens [B, 1 + K, encoder_dim]`` ([CLS] first, then the kept patches in
    shuffled order), ``restore [B, N]`` (:class:`~sslcore_vision.masks.PatchShuffle`)
    -> ``[B, N, patch_dim]`` in patch order.
    """

    def __init__(
        self,
        encoder_dim: int,
        grid: tuple[int, int],
        patch_dim: int,
        embed_dim: int = 128,
        depth: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
    ):
        # timm only here: the other decoders (and the tasks that use them) do not pay its import
        from timm.layers import build_sincos2d_pos_embed
        from timm.models.vision_transformer import Block

        super().__init__()
        if embed_dim % 4 or embed_dim % num_heads:
            raise ValueError(
                f"MAEDecoder: embed_dim {embed_dim} must be a multiple of 4 (2D sine-cosine positions) "
                f"and of num_heads {num_heads}"
            )
        self.grid = tuple(grid)
        self.embed = nn.Linear(encoder_dim, embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        positions = build_sincos2d_pos_embed(list(self.grid), embed_dim)  # [N, embed_dim], row-major
        self.register_buffer(
            "pos_embed", torch.cat([torch.zeros(1, embed_dim), positions])[None], persistent=False
        )
        norm = functools.partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.Sequential(
            *(Block(embed_dim, num_heads, mlp_ratio, qkv_bias=True, norm_layer=norm) for _ in range(depth))
        )
        self.norm = norm(embed_dim)
        self.predict = nn.Linear(embed_dim, patch_dim)
        self.apply(_xavier_linear)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, tokens: Tensor, restore: Tensor) -> Tensor:
        x = self.embed(tokens)  # [B, 1 + K, E]
        b, n = restore.shape
        hidden = self.mask_token.expand(b, n + 1 - x.shape[1], -1)
        patches = torch.cat([x[:, 1:], hidden], dim=1)  # [B, N, E], shuffled order
        patches = gather_tokens(patches, restore)
        x = torch.cat([x[:, :1], patches], dim=1) + self.pos_embed
        return self.predict(self.norm(self.blocks(x)))[:, 1:]


def _xavier_linear(module: nn.Module) -> None:
    """MAE's initialisation of a Linear layer: Xavier-uniform weight, zero bias."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
