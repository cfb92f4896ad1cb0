"""Vision Transformers (Dosovitskiy et al. 2021) on timm's ``VisionTransformer``, with the
token-level access masked-image and self-distillation tasks need (MAE's kept patches,
iBOT's and SimMIM's mask token) and the facts fine-tuning needs (layer ids for layer-wise
learning-rate decay, parameters without weight decay)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import torch
from annotated_types import Ge, Gt, Interval
from timm.layers import resample_abs_pos_embed, trunc_normal_
from timm.models import checkpoint_seq
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn
from torch import Tensor, nn

from sslcore import ConfigError
from sslcore.data import info_get
from sslcore_vision.channels import require_channels
from sslcore_vision.encoders import PooledFeatureMaps
from sslcore_vision.encoders.weights import StateDict, load_weights

#: parameter-name parts of the embedding layer (layer id 0)
_EMBEDDING = ("patch_embed", "cls_token", "pos_embed", "mask_token", "reg_token")


def default_patch_size(image_size: int) -> int:
    """The patch size for ``image_size`` px images: 4 up to 32 px, 8 up to 96 px, else 16
    (28 -> 4, 32 -> 4, 96 -> 8, 224 -> 16); if that does not divide ``image_size``, the
    largest smaller size that does."""
    target = 4 if image_size <= 32 else 8 if image_size <= 96 else 16
    return next(p for p in range(min(target, image_size), 0, -1) if image_size % p == 0)


def _sides(image_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    height, width = image_size
    return int(height), int(width)


def check_vit_shape(sides: tuple[int, int], patch_size: int, embed_dim: int, num_heads: int) -> None:
    """Raise :class:`~sslcore.ConfigError` (naming both numbers and the fix) if
    ``patch_size`` does not divide the image sides or ``num_heads`` does not divide ``embed_dim``."""
    for side in set(sides):
        if side % patch_size:
            fits = [p for p in range(1, min(side, 32) + 1) if side % p == 0]
            raise ConfigError(
                f"ViT: patch_size={patch_size} does not divide the image size {side}; use a patch size "
                f"that divides {side} ({', '.join(map(str, fits))}), or leave patch_size unset to "
                f"choose one for the resolution ({default_patch_size(side)})"
            )
    if embed_dim % num_heads:
        fits = [h for h in range(1, min(embed_dim, 16) + 1) if embed_dim % h == 0]
        raise ConfigError(
            f"ViT: embed_dim={embed_dim} is not divisible by num_heads={num_heads}; use num_heads "
            f"dividing {embed_dim} ({', '.join(map(str, fits))}) or an embed_dim that is a multiple "
            f"of {num_heads}"
        )


class VisionTransformerEncoder(PooledFeatureMaps):
    """A ViT over ``patch_size`` patches with a [CLS] token, on timm's ``VisionTransformer``
    (``self.vit``; ``num_classes=0``, learned position embeddings for the ``grid`` of the
    built ``image_size``, resampled for other sizes: multi-crop views of any size work, a
    side that ``patch_size`` does not divide is padded).

    Shapes (``D = embed_dim = output_dim``, ``N = num_patches``, ``h x w = grid``):

    - ``forward``: ``[B, C, H, W] -> [B, D]``, the final-normed [CLS] token;
    - :meth:`tokens`: ``-> [B, 1 + N, D]`` final-normed tokens, [CLS] first (``keep`` /
      ``mask`` select or hide patches);
    - :meth:`feature_map`: ``-> [B, D, h, w]``, the patch tokens on their grid.

    Fine-tuning facts: :attr:`num_layers` and :meth:`layer_id` (layer-wise lr decay),
    :meth:`no_weight_decay` (position embedding, [CLS] and mask tokens).
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int | tuple[int, int] = 224,
        patch_size: int | None = None,
        embed_dim: int = 192,
        depth: int = 12,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        sides = _sides(image_size)
        patch_size = patch_size if patch_size is not None else default_patch_size(min(sides))
        check_vit_shape(sides, patch_size, embed_dim, num_heads)
        self.in_channels = in_channels
        self.image_size = image_size
        self.patch_size: int = patch_size
        self.embed_dim: int = embed_dim
        self.output_dim: int = embed_dim
        self.num_layers: int = depth
        self.grid: tuple[int, int] = (sides[0] // patch_size, sides[1] // patch_size)
        self.num_patches: int = self.grid[0] * self.grid[1]
        self.vit = VisionTransformer(
            img_size=sides,
            patch_size=patch_size,
            in_chans=in_channels,
            num_classes=0,
            global_pool="token",
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            class_token=True,
            drop_path_rate=drop_path_rate,
            dynamic_img_size=True,
            dynamic_img_pad=True,
        )
        #: replaces the embedding of a masked patch (``tokens(mask=...)``), ``[1, 1, D]``
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        trunc_normal_(self.mask_token, std=0.02)

    # -- tokens ----------------------------------------------------------------------
    def tokens(self, images: Tensor, keep: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """Final-normed tokens, [CLS] first: ``[B, C, H, W] -> [B, 1 + n, D]``.

        ``keep`` (``[B, K]`` integer indices into the ``N`` patches, MAE): the blocks run
        on those patches only (position embeddings are added before dropping), ``n = K``.
        ``mask`` (``[B, N]`` bool, iBOT / SimMIM): a masked patch's embedding is replaced
        by :attr:`mask_token` before position embeddings are added, ``n = N``. Neither:
        every patch, ``n = N``. ``N`` is the patch count of these images (``num_patches``
        at the built size). Both, or wrong shapes, raise ``ValueError`` naming the shapes."""
        return self._tokens(images, keep, mask)[0]

    def _tokens(
        self, images: Tensor, keep: Tensor | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, tuple[int, int]]:
        """:meth:`tokens` and the patch grid ``(h, w)`` of ``images``."""
        if keep is not None and mask is not None:
            raise ValueError(
                f"tokens: pass keep ({tuple(keep.shape)}) or mask ({tuple(mask.shape)}), not both"
            )
        require_channels(self.in_channels, images.shape[1], type(self).__name__)
        vit = self.vit
        x = vit.patch_embed(images)  # [B, h, w, D]
        batch, height, width, dim = x.shape
        x = x.reshape(batch, height * width, dim)
        if mask is not None:
            _check_mask(mask, batch, height * width)
            x = torch.where(mask.unsqueeze(-1), self.mask_token.to(x.dtype), x)
        pos = self._position_embedding((height, width))  # [1, 1 + N, D]
        x = x + pos[:, 1:]
        if keep is not None:
            _check_keep(keep, batch, height * width)
            x = torch.gather(x, 1, keep.unsqueeze(-1).expand(-1, -1, dim))
        cls = (vit.cls_token + pos[:, :1]).expand(batch, -1, -1)
        x = vit.norm_pre(vit.pos_drop(torch.cat([cls.to(x.dtype), x], dim=1)))
        if vit.grad_checkpointing and torch.is_grad_enabled():  # vit.set_grad_checkpointing()
            x = checkpoint_seq(vit.blocks, x)
        else:
            x = vit.blocks(x)
        return vit.norm(x), (height, width)

    def _position_embedding(self, grid: tuple[int, int]) -> Tensor:
        """``[1, 1 + h * w, D]``: the learned embedding, resampled if ``grid`` is not :attr:`grid`."""
        if grid == self.grid:
            return self.vit.pos_embed
        return resample_abs_pos_embed(self.vit.pos_embed, new_size=list(grid), old_size=list(self.grid))

    def forward(self, images: Tensor) -> Tensor:
        """``[B, C, H, W] -> [B, D]``: the final-normed [CLS] token (contiguous)."""
        return self.tokens(images)[:, 0].contiguous()

    def feature_map(self, images: Tensor) -> Tensor:
        """``[B, C, H, W] -> [B, D, h, w]``: the final-normed patch tokens (not [CLS]) on the
        patch grid (``h, w = ceil(H / patch_size), ceil(W / patch_size)``)."""
        x, (height, width) = self._tokens(images)
        return x[:, 1:].transpose(1, 2).reshape(x.shape[0], x.shape[2], height, width)

    def feature_maps(self, images: Tensor) -> list[Tensor]:
        """``[feature_map(images)]``: a ViT has one resolution."""
        return [self.feature_map(images)]

    # -- fine-tuning facts -----------------------------------------------------------
    def layer_id(self, param_name: str) -> int:
        """The layer of a parameter, for layer-wise lr decay: 0 for the embedding
        (``patch_embed``, ``cls_token``, ``pos_embed``, ``mask_token``), ``i + 1`` for
        ``blocks.i.*``, :attr:`num_layers` for the final norm (part of the last layer).
        Names may carry a prefix (``encoder.vit.blocks.3.mlp.fc1.weight`` -> 4)."""
        parts = param_name.split(".")
        for i, part in enumerate(parts[:-1]):
            if part == "blocks" and parts[i + 1].isdigit():
                return int(parts[i + 1]) + 1
        if any(part in _EMBEDDING for part in parts):
            return 0
        return self.num_layers

    def no_weight_decay(self) -> set[str]:
        """Names (relative to this module) of the parameters to exclude from weight decay."""
        return {"vit.pos_embed", "vit.cls_token", "mask_token"}

    # -- weights ---------------------------------------------------------------------
    def load_weights(self, path: str) -> None:
        """Load a local file: this encoder's ``state_dict`` or a timm ``VisionTransformer``
        checkpoint of the same width and depth (position and patch embeddings resampled to
        this grid); see :func:`sslcore_vision.encoders.weights.load_weights`."""
        load_weights(
            self,
            path,
            "ViT",
            adapt=self._from_timm,
            fix="build the ViT with the embed_dim, depth, num_heads and mlp_ratio the weights were "
            "trained with (encoder options), or save this encoder's own state_dict",
        )

    def _from_timm(self, state: StateDict) -> StateDict:
        """A timm ``VisionTransformer`` state dict (no ``vit.`` prefix) in this module's keys."""
        if any(k.startswith("vit.") for k in state):
            return state
        mask_token = state.pop("mask_token", None)
        try:
            state = checkpoint_filter_fn(state, self.vit)
        except Exception:  # noqa: BLE001 - not a timm layout: reported as a key mismatch
            pass
        out = {f"vit.{k}": v for k, v in state.items() if not k.startswith("head.")}
        if mask_token is None or mask_token.numel() != self.mask_token.numel():
            mask_token = self.mask_token.detach()  # none in the file (a plain ViT): keep this one
        out["mask_token"] = mask_token.reshape(self.mask_token.shape)
        return out


def _check_mask(mask: Tensor, batch: int, patches: int) -> None:
    if mask.dtype != torch.bool or tuple(mask.shape) != (batch, patches):
        raise ValueError(
            f"tokens: mask must be a bool tensor [B, N] = [{batch}, {patches}] for these images, "
            f"got {mask.dtype} {tuple(mask.shape)}"
        )


def _check_keep(keep: Tensor, batch: int, patches: int) -> None:
    if keep.dtype.is_floating_point or keep.dim() != 2 or keep.shape[0] != batch or keep.shape[1] > patches:
        raise ValueError(
            f"tokens: keep must be integer indices [B, K] with B = {batch}, K <= N = {patches} for "
            f"these images, got {keep.dtype} {tuple(keep.shape)}"
        )


def _build(
    info: Mapping[str, Any], weights: str | None, patch_size: int | None, **shape: Any
) -> VisionTransformerEncoder:
    encoder = VisionTransformerEncoder(
        info_get(info, "in_channels"), info_get(info, "image_size"), patch_size, **shape
    )
    if weights is not None:
        encoder.load_weights(weights)
    return encoder


def vit(
    info: Mapping[str, Any],
    embed_dim: Annotated[int, Ge(1)] = 192,
    depth: Annotated[int, Ge(1)] = 12,
    num_heads: Annotated[int, Ge(1)] = 3,
    mlp_ratio: Annotated[float, Gt(0)] = 4.0,
    patch_size: Annotated[int, Ge(1)] | None = None,
    drop_path_rate: Annotated[float, Interval(ge=0, lt=1)] = 0.0,
    weights: str | None = None,
) -> VisionTransformerEncoder:
    """Registered factory: a configurable ViT (``in_channels`` and ``image_size`` from the
    dataset's ``info``). ``patch_size``: None chooses one for the resolution (4 up to 32
    px, 8 up to 96 px, else 16); ``weights``: a local .safetensors or torch checkpoint."""
    return _build(
        info,
        weights,
        patch_size,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
        drop_path_rate=drop_path_rate,
    )


def vit_tiny(
    info: Mapping[str, Any],
    patch_size: Annotated[int, Ge(1)] | None = None,
    drop_path_rate: Annotated[float, Interval(ge=0, lt=1)] = 0.0,
    weights: str | None = None,
) -> VisionTransformerEncoder:
    """Registered factory: ViT-Tiny, 192-d, 12 blocks, 3 heads (see :func:`vit`)."""
    return _build(
        info, weights, patch_size, embed_dim=192, depth=12, num_heads=3, drop_path_rate=drop_path_rate
    )


def vit_small(
    info: Mapping[str, Any],
    patch_size: Annotated[int, Ge(1)] | None = None,
    drop_path_rate: Annotated[float, Interval(ge=0, lt=1)] = 0.0,
    weights: str | None = None,
) -> VisionTransformerEncoder:
    """Registered factory: ViT-Small, 384-d, 12 blocks, 6 heads (see :func:`vit`)."""
    return _build(
        info, weights, patch_size, embed_dim=384, depth=12, num_heads=6, drop_path_rate=drop_path_rate
    )
