"""iBOT (Zhou et al. 2022, "iBOT: Image BERT Pre-Training with Online Tokenizer")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Literal

import torch
from annotated_types import Ge, Gt, Interval
from torch import Tensor, nn

from sslcore import ConfigError, TaskOutput
from sslcore.contrast import dino_loss, ibot_patch_loss, update_center
from sslcore.engine.schedule import linear_warmup
from sslcore_vision.batched import StackedImages
from sslcore_vision.encoders import PooledFeatureMaps
from sslcore_vision.encoders.wrap import WrappedImageEncoder
from sslcore_vision.tasks.dino import DINO, Augmentation, dino_views, teacher_entropy
from sslcore_vision.tasks.image_views import AugmentOn

MaskShape = Literal["block", "random"]
Ratio = Annotated[float, Interval(ge=0, lt=1)]
#: log-uniform aspect ratios of a masked block (BEiT's and iBOT's)
BLOCK_ASPECT = (0.3, 1 / 0.3)


def mask_ratios(n: int, ratio: tuple[float, float], probability: float, device: torch.device) -> Tensor:
    """``[n]`` masking ratios: uniform in ``ratio`` with ``probability``, else 0 (iBOT's
    ``pred_ratio 0 0.3 --pred_ratio_var 0 0.2``: half the crops unmasked, half in [0.1, 0.5])."""
    u = torch.rand(2, n, device=device)
    drawn = ratio[0] + u[1] * (ratio[1] - ratio[0])
    return torch.where(u[0] < probability, drawn, torch.zeros_like(drawn))


def patch_masks(ratios: Tensor, grid: tuple[int, int], shape: MaskShape = "block", draws: int = 16) -> Tensor:
    r"""``[B]`` ratios -> bool ``[B, h w]`` masks (``True`` = masked), exactly
    :math:`\lfloor r_b\, h w \rfloor` patches each, drawn on ``ratios``' device.

    ``"block"``: BEiT's blockwise masking (Bao et al. 2022), batched: ``draws`` successive
    rectangle proposals per image, area uniform in :math:`[\lfloor \min(h, w)/3 \rfloor^2,
    \text{remaining}]`, aspect log-uniform in (0.3, 1/0.3), uniform position; one is kept
    when it fits inside the grid and covers at least one new patch and no more than the
    remaining count (BEiT's and iBOT's rule). Uniformly random single patches then fill
    each mask up to its count, which the rectangles alone may miss. ``"random"``: only those.
    """
    b, (h, w) = ratios.shape[0], grid
    device = ratios.device
    target = torch.floor(ratios * (h * w))
    mask = torch.zeros(b, h, w, dtype=torch.bool, device=device)
    if shape == "block":
        rows = torch.arange(h, device=device).view(1, h, 1)
        cols = torch.arange(w, device=device).view(1, 1, w)
        low = float((min(h, w) // 3) ** 2)
        log_aspect = [math.log(a) for a in BLOCK_ASPECT]
        for _ in range(draws):
            remaining = target - mask.sum(dim=(1, 2))
            u = torch.rand(4, b, device=device)
            area = low + u[0] * (remaining - low)
            aspect = torch.exp(log_aspect[0] + u[1] * (log_aspect[1] - log_aspect[0]))
            height, width = (area * aspect).sqrt().round(), (area / aspect).sqrt().round()
            top = (u[2] * (h - height + 1)).floor().view(-1, 1, 1)
            left = (u[3] * (w - width + 1)).floor().view(-1, 1, 1)
            block = (rows >= top) & (rows < top + height.view(-1, 1, 1))
            block = block & (cols >= left) & (cols < left + width.view(-1, 1, 1))
            new = (block & ~mask).sum(dim=(1, 2))
            keep = (height < h) & (width < w) & (new > 0) & (new <= remaining)
            mask |= block & keep.view(-1, 1, 1)
    mask = mask.view(b, h * w)
    need = target - mask.sum(dim=1)
    rank = torch.rand(b, h * w, device=device).masked_fill(mask, 2.0).argsort(dim=1).argsort(dim=1)
    return mask | (rank < need.view(-1, 1))


#: the ``forward`` methods that are the global average of ``feature_map``: for encoders with one
#: of them, a CNN's [CLS] token is the map's mean (one pass gives both)
POOLED_FORWARDS = (PooledFeatureMaps.forward, WrappedImageEncoder.forward)


def has_tokens(encoder: nn.Module) -> bool:
    """Whether ``encoder`` gives ViT tokens: ``tokens(images, mask=...)`` and ``patch_size``."""
    return callable(getattr(encoder, "tokens", None)) and hasattr(encoder, "patch_size")


def mask_cells(images: Tensor, masks: Tensor, grid: tuple[int, int]) -> Tensor:
    """``images`` ``[B, C, H, W]`` with every masked cell's pixels set to 0 (the dataset
    mean after normalisation), the others untouched: the ``h x w`` ``grid`` of equal cells
    (side ``H / h`` by ``W / w``; ``h, w`` divide ``H, W``), ``masks`` bool ``[B, h w]``
    row-major (``True`` = masked)."""
    (b, _, height, width), (h, w) = images.shape, grid
    pixels = masks.view(b, 1, h, w).repeat_interleave(height // h, dim=2).repeat_interleave(width // w, dim=3)
    return images.masked_fill(pixels, 0.0)


@torch.no_grad()
def cell_grid(encoder: nn.Module, channels: int, size: tuple[int, int], example: Tensor) -> tuple[int, int]:
    """The ``(h, w)`` of ``encoder.feature_map`` for ``size`` ``(H, W)`` images, by a dry run
    on one zero image like ``example`` (dtype, device) in eval mode (no BatchNorm statistics
    change); :class:`~sslcore.ConfigError` when the map is not ``[1, output_dim, h, w]``,
    has a single cell (nothing to mask) or does not split the image into equal cells."""
    modes = [(module, module.training) for module in encoder.modules()]
    encoder.eval()
    try:
        fmap = encoder.feature_map(example.new_zeros(1, channels, *size))
    finally:
        for module, training in modes:
            module.training = training
    (height, width), dim = size, getattr(encoder, "output_dim", None)
    if fmap.dim() != 4 or fmap.shape[1] != dim:
        raise ConfigError(
            f"ibot: the encoder's feature_map gave {tuple(fmap.shape)} for a {height}x{width} image; "
            f"ibot needs [B, output_dim={dim}, h, w] maps"
        )
    h, w = fmap.shape[-2:]
    if h * w < 2:
        raise ConfigError(
            f"ibot: the encoder's last feature map of a {height}x{width} image is {h}x{w}, a single cell: "
            "nothing to mask; use an encoder with a finer last map (small_cnn: stem_stride=1) or larger images"
        )
    if height % h or width % w:
        raise ConfigError(
            f"ibot: the encoder's {h}x{w} feature map does not split the {height}x{width} image into equal "
            "cells (cell side = image side / map side); use an image size that the map side divides "
            "(small_cnn's map divides 28x28, 32x32 and 96x96 images, and 16x16 with stem_stride=1)"
        )
    return h, w


def image_tokens(
    encoder: nn.Module, images: Tensor, masks: Tensor | None = None, grid: tuple[int, int] | None = None
) -> Tensor:
    """``[B, 1 + P, D]`` tokens of ``images`` ``[B, C, H, W]``, [CLS] first, with the patches in
    ``masks`` (bool ``[B, P]``, ``None``: none) hidden; the student's and the teacher's path.

    A ViT (:func:`has_tokens`): ``encoder.tokens(images, mask=masks)``, masked patch
    embeddings replaced by the mask token. A CNN: the ``P = h w`` cells of
    ``feature_map(images)`` ``[B, D, h, w]`` (row-major) after :func:`mask_cells` zeroes the
    masked cells' pixels (``grid``: ``(h, w)``), and the pooled output ``encoder(images)``
    as [CLS] (the map's mean, from the same pass, for encoders whose ``forward`` pools it).
    """
    if has_tokens(encoder):
        return encoder.tokens(images, mask=masks)
    if masks is not None:
        if grid is None:
            raise ValueError("image_tokens: masks on a CNN need the cell grid (h, w)")
        images = mask_cells(images, masks, grid)
    fmap = encoder.feature_map(images)  # [B, D, h, w]
    cls = fmap.mean(dim=(2, 3)) if type(encoder).forward in POOLED_FORWARDS else encoder(images)
    return torch.cat([cls.unsqueeze(1), fmap.flatten(2).transpose(1, 2)], dim=1)


class IBOT(DINO):
    r"""DINO's [CLS] self-distillation plus masked image modelling with an online tokenizer:
    the student sees masked global crops and predicts, for each masked patch, the momentum
    teacher's distribution for that patch of the unmasked crop.

    .. math::
        \mathcal{L} = \mathcal{L}_{\text{[CLS]}} + \lambda\,\mathcal{L}_{\text{MIM}}, \qquad
        \mathcal{L}_{\text{MIM}} = \frac1G \sum_{g=1}^{G} \frac1N \sum_{n=1}^{N}
            \frac{\sum_p m_{gnp}\, \text{CE}\big(\text{softmax}((t_{gnp} - c')/\tau'_t),\
                  \text{softmax}(s_{gnp}/\tau_s)\big)}{\max(1, \sum_p m_{gnp})}

    with the student's tokens :math:`s_g = h(f(\hat x_g))` ``[N, 1 + P, K]`` of the masked
    global crop :math:`\hat x_g` and the teacher's :math:`t_g = h_\xi(f_\xi(x_g))` of the
    unmasked one ``[N, C, S, S]``, [CLS] first, masks :math:`m_g` bool ``[N, P]``.
    :math:`\mathcal{L}_{\text{[CLS]}}`: :class:`~sslcore_vision.tasks.dino.DINO`'s loss on
    the [CLS] outputs (the student's global crops masked, its local crops ``[N, C, s, s]``
    [CLS] only); :math:`\mathcal{L}_{\text{MIM}}`: :func:`sslcore.contrast.ibot_patch_loss`,
    the teacher's patch outputs centred by their own centre :math:`c'` ``patch_center`` and
    sharpened by :math:`\tau'_t`. One head (iBOT's shared head,
    :class:`~sslcore_vision.heads.DINOHead`) maps [CLS] and patch tokens. The other options
    are DINO's.

    Options: ``mask_ratio``: range of the share of patches masked in a masked crop (0.1-0.5).
    ``mask_probability``: chance that a global crop is masked at all (0.5).
    ``mask_shape``: BEiT's rectangular blocks ("block") or single patches ("random"); see :func:`patch_masks`.
    ``patch_loss_weight``: the weight of the patch loss, :math:`\lambda` (1).
    ``patch_teacher_temperature``: the teacher's patch temperature after the same warm-up (0.07).

    Encoders (:func:`image_tokens`): a ViT, as in the paper: ``tokens(images, mask=bool
    [B, P]) -> [B, 1 + P, D]`` (final-normed, [CLS] first) and ``patch_size``
    (``sslcore_vision.encoders.vit``); masked patch embeddings become the encoder's mask
    token. A CNN (our adaptation; the paper uses ViTs only): an encoder with
    ``feature_map(images) -> [B, D, h, w]``; its ``P = h w`` cells (row-major) are the patch
    tokens and its pooled output ``encoder(images)`` the [CLS] token. Masking happens in
    pixel space: the image is split into the ``h x w`` grid of equal cells (side ``H / h``),
    and each masked cell's pixels become 0, the dataset mean after normalisation
    (:func:`mask_cells`); the convolutions still see a masked cell's border through their
    receptive field. The grid comes from a dry run on one zero image of the global crop
    size (at construction from ``from_data``, else at the first batch): it needs more than
    one cell and ``h, w`` dividing ``H, W`` (:class:`~sslcore.ConfigError` otherwise; the
    small CNN on 16x16 digits needs ``stem_stride=1`` for a 2x2 map, on 28x28 images its
    default gives 2x2 and ``stem_stride=1`` 4x4). Either way the student runs on the masked
    global crops and the teacher on the unmasked ones.

    Batch: the tuple of ``V = num_global + num_local`` views.
    ``embed(images) -> [N, output_dim]``: the student's [CLS] token (a CNN's pooled output).
    Metrics: ``cls_loss``, ``patch_loss``, ``mask_ratio`` (share of the global crops' patches
    masked), DINO's ``teacher_entropy`` and ``teacher_temperature`` for [CLS] and
    ``patch_teacher_entropy`` and ``patch_teacher_temperature`` for the patch tokens (all of them).
    """

    signal = "self-distillation of [CLS] across crops and of masked patch tokens from an online tokenizer"
    negatives = "none"
    encoder_requirements = (
        "a ViT's tokens(images, mask=bool [B, P]) and patch_size (the default vit_tiny), or a CNN's "
        "feature_map() [B, output_dim, h, w] with more than one cell, h and w dividing the image sides "
        "(masked cells are zeroed in pixel space; small_cnn on 16x16 images: stem_stride=1)"
    )

    def __init__(
        self,
        encoder: nn.Module,
        global_augmentation: Augmentation | Sequence[Augmentation],
        local_augmentation: Augmentation,
        num_global: Annotated[int, Ge(1)] = 2,
        num_local: Annotated[int, Ge(0)] = 2,
        out_dim: Annotated[int, Ge(1)] = 4096,
        hidden_dim: Annotated[int, Ge(1)] = 512,
        bottleneck_dim: Annotated[int, Ge(1)] = 128,
        norm_last_layer: bool = True,
        head_batch_norm: bool = False,
        student_temperature: Annotated[float, Gt(0)] = 0.1,
        teacher_temperature: Annotated[float, Gt(0)] = 0.04,
        patch_teacher_temperature: Annotated[float, Gt(0)] = 0.07,
        warmup_teacher_temperature: Annotated[float, Gt(0)] = 0.04,
        teacher_temperature_warmup: Annotated[float, Interval(ge=0, le=1)] = 0.1,
        center_momentum: Annotated[float, Interval(ge=0, le=1)] = 0.9,
        base_momentum: Annotated[float, Interval(ge=0, le=1)] = 0.996,
        freeze_last_layer: Annotated[int, Ge(0)] = 0,
        mask_ratio: tuple[Ratio, Ratio] = (0.1, 0.5),
        mask_probability: Annotated[float, Interval(ge=0, le=1)] = 0.5,
        mask_shape: MaskShape = "block",
        patch_loss_weight: Annotated[float, Ge(0)] = 1.0,
        augment_on: AugmentOn = "auto",
    ):
        if not has_tokens(encoder) and not callable(getattr(encoder, "feature_map", None)):
            raise ConfigError(
                f"ibot needs a ViT encoder with tokens() and patch_size or a CNN with feature_map() "
                f"(got {type(encoder).__name__}, which has neither); use --encoder vit_tiny or "
                "--encoder small_cnn, or wrap a module that returns feature maps (wrap_module)"
            )
        if not mask_ratio[0] <= mask_ratio[1]:
            raise ConfigError(
                f"ibot: mask_ratio must be a range (low, high) with low <= high, got {mask_ratio}"
            )
        if mask_shape not in ("block", "random"):
            raise ConfigError(f"ibot: mask_shape must be 'block' or 'random', got {mask_shape!r}")
        super().__init__(
            encoder,
            global_augmentation,
            local_augmentation,
            num_global=num_global,
            num_local=num_local,
            out_dim=out_dim,
            hidden_dim=hidden_dim,
            bottleneck_dim=bottleneck_dim,
            norm_last_layer=norm_last_layer,
            head_batch_norm=head_batch_norm,
            student_temperature=student_temperature,
            teacher_temperature=teacher_temperature,
            warmup_teacher_temperature=warmup_teacher_temperature,
            teacher_temperature_warmup=teacher_temperature_warmup,
            center_momentum=center_momentum,
            base_momentum=base_momentum,
            freeze_last_layer=freeze_last_layer,
            augment_on=augment_on,
        )
        self.mask_ratio, self.mask_probability, self.mask_shape = (
            tuple(mask_ratio),
            mask_probability,
            mask_shape,
        )
        self.patch_loss_weight, self.patch_teacher_temperature = patch_loss_weight, patch_teacher_temperature
        self.register_buffer("patch_center", torch.zeros_like(self.center))
        self._cell_grids: dict[tuple[int, int], tuple[int, int]] = {}  # a CNN's, by image (H, W)

    from_data = dino_views("ibot", global_scale=(0.25, 1.0), local_scale=(0.05, 0.25))

    def patch_teacher_temperature_at(self, progress: float | None = None) -> float:
        """The teacher's patch temperature at ``progress`` (default: the progress so far)."""
        start, _, warmup = self.teacher_temperatures
        p = self._progress if progress is None else progress
        return linear_warmup(p, start, self.patch_teacher_temperature, warmup)

    def mask_grid(self, images: Tensor) -> tuple[int, int]:
        """The ``(h, w)`` patch grid of ``images`` ``[B, C, H, W]``: a ViT's patches of
        ``patch_size`` (a partial last row / column counted), a CNN's feature-map cells
        (:func:`cell_grid`, a dry run once per image size)."""
        height, width = images.shape[-2:]
        if has_tokens(self.encoder):
            size = self.encoder.patch_size
            return math.ceil(height / size), math.ceil(width / size)
        grid = self._cell_grids.get((height, width))
        if grid is None:
            grid = cell_grid(self.encoder, images.shape[1], (height, width), images)
            self._cell_grids[(height, width)] = grid
        return grid

    def check_global_crops(self, shape: tuple[int, int, int]) -> None:
        """A CNN's cell grid for global crops of ``shape`` ``(C, H, W)``, found now
        (:class:`~sslcore.ConfigError` for an unusable one) rather than at the first batch."""
        if not has_tokens(self.encoder):
            channels, *size = shape
            example = next(self.encoder.parameters(), torch.zeros(()))
            self._cell_grids[tuple(size)] = cell_grid(self.encoder, channels, tuple(size), example)

    def draw_masks(self, images: Tensor) -> Tensor:
        """bool ``[B, P]`` masks for ``images`` ``[B, C, H, W]`` over their :meth:`mask_grid`,
        on their device."""
        ratios = mask_ratios(len(images), self.mask_ratio, self.mask_probability, images.device)
        return patch_masks(ratios, self.mask_grid(images), self.mask_shape)

    def forward(self, batch: tuple[Tensor, ...] | StackedImages) -> TaskOutput:
        views = self.as_views(batch)
        n, g = len(views[0]), self.num_global
        frozen = self.last_layer_frozen
        crops = torch.cat(views[:g])  # [G N, C, S, S]
        grid = self.mask_grid(crops)
        masks = self.draw_masks(crops)  # [G N, P]
        student_tokens = image_tokens(self.encoder, crops, masks, grid)  # [G N, 1+P, D], masked crops
        student = self.head(student_tokens, frozen_last_layer=frozen)  # [G N, 1+P, K]
        cls = [student[:, 0]]
        if len(views) > g:  # local crops: [CLS] only
            cls.append(self.head(self.encoder(torch.cat(views[g:])), frozen_last_layer=frozen))
        with torch.no_grad():
            teacher_encoder, teacher_head = self.teacher.network
            teacher = teacher_head(image_tokens(teacher_encoder, crops))  # [G N, 1+P, K], unmasked crops
        temperature, patch_temperature = self.teacher_temperature_at(), self.patch_teacher_temperature_at()
        cls_loss = dino_loss(
            torch.cat(cls).split(n),
            teacher[:, 0].split(n),
            self.center,
            self.student_temperature,
            temperature,
        )
        patch_loss = ibot_patch_loss(
            student[:, 1:].split(n),
            teacher[:, 1:].split(n),
            masks.split(n),
            self.patch_center,
            self.student_temperature,
            patch_temperature,
        )
        if self.training:
            self._teacher_outputs = [teacher[:, 0], teacher[:, 1:]]
        metrics = {
            "cls_loss": cls_loss.detach(),
            "patch_loss": patch_loss.detach(),
            "mask_ratio": masks.float().mean(),
            **self.teacher_metrics(teacher[:, 0], temperature),
            "patch_teacher_entropy": teacher_entropy(teacher[:, 1:], self.patch_center, patch_temperature),
            "patch_teacher_temperature": patch_temperature,
        }
        return TaskOutput(cls_loss + self.patch_loss_weight * patch_loss, metrics)

    def update_centers(self) -> None:
        cls, patches = self._teacher_outputs
        self.center.copy_(update_center(self.center, cls, self.center_momentum))
        self.patch_center.copy_(update_center(self.patch_center, patches, self.center_momentum))
