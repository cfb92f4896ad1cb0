"""MoCo v3 (Chen, Xie & He 2021, "An Empirical Study of Training Self-Supervised Vision
Transformers")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

import torch.nn.functional as F
from annotated_types import Ge, Gt, Interval
from torch import Tensor, nn

from sslcore import ConfigError, TaskOutput, info_nce
from sslcore_vision.batched import StackedImages
from sslcore_vision.tasks.image_views import AugmentOn, ImageViewsTask, byol_views
from sslcore_vision.tasks.momentum_target import MomentumTarget
from sslcore_vision.transforms import ViewsCollate


def batchnorm_mlp(num_layers: int, in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """MoCo v3's MLP: ``num_layers`` bias-free ``Linear`` layers, each followed by
    ``BatchNorm1d``, ``ReLU`` after the hidden ones and an affine-free BatchNorm after the
    last ("all layers in both MLPs have BN", as the reference code's ViT heads).

    Shapes: ``[N, in_dim] -> [N, out_dim]``.
    """
    dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(dims, dims[1:])):
        layers.append(nn.Linear(d_in, d_out, bias=False))
        if i < num_layers - 1:
            layers += [nn.BatchNorm1d(d_out), nn.ReLU(inplace=True)]
        else:
            layers.append(nn.BatchNorm1d(d_out, affine=False))
    return nn.Sequential(*layers)


def freeze_patch_embedding(encoder: nn.Module) -> None:
    """Stop the gradient of every ``patch_embed`` submodule of ``encoder`` (a ViT's patch
    projection: ours, or a ``timm:`` ViT's), so it stays at its random initialisation;
    a :class:`~sslcore.ConfigError` when ``encoder`` has none (a CNN)."""
    found = [m for name, m in encoder.named_modules() if name.rsplit(".", 1)[-1] == "patch_embed"]
    if not found:
        raise ConfigError(
            f"MoCo v3: freeze_patch_embed=True needs an encoder with a patch projection (a ViT: "
            f"vit_tiny, vit_small, vit or a timm ViT), but {type(encoder).__name__} has no "
            f"'patch_embed' module; use a ViT encoder or leave freeze_patch_embed=False"
        )
    for module in found:
        module.requires_grad_(False)


class MoCoV3(ImageViewsTask):
    r"""Find each view's momentum-encoded key among the other view's keys of the batch.

    .. math::
        q_v = h(g(f(t_v(x)))), \quad k_v = g_\xi(f_\xi(t_v(x))), \qquad
        \mathcal{L} = 2\tau\,\big[\text{InfoNCE}_\tau(q_1, k_2) + \text{InfoNCE}_\tau(q_2, k_1)\big],
        \qquad \xi \leftarrow m\,\xi + (1 - m)\,\theta

    with encoder ``f``, 3-layer projector ``g`` and 2-layer predictor ``h``
    (:func:`batchnorm_mlp`; parameters :math:`\theta`), the momentum copy :math:`\xi` of
    ``(f, g)`` with :math:`m = 1 - (1 - m_0)(\cos(\pi p) + 1)/2` over training progress
    ``p`` (updated by :meth:`on_train_step_end`), and BYOL's asymmetric views ``t_1``,
    ``t_2``, as the paper. :math:`\text{InfoNCE}_\tau` (:func:`sslcore.info_nce`) takes
    L2-normalised rows and the other keys of the batch as the negatives: the reference
    code's cross-entropy of ``q @ k.T / tau`` against the diagonal. The factor
    :math:`2\tau` is the reference code's (it keeps the gradient scale independent of
    :math:`\tau`). Each view is its own BatchNorm batch, as in the reference code.
    ``freeze_patch_embed=True`` keeps a ViT's patch projection at its random initialisation
    (the paper's stability trick, section 4.2; :func:`freeze_patch_embedding`).

    Batch: ``(view1, view2)``, each ``[N, C, H, W]`` float.
    ``embed(images [N, C, H, W]) -> [N, output_dim]``: the encoder ``f``.
    """

    signal = "instance identity across augmented views"
    negatives = "end-to-end"

    def __init__(
        self,
        encoder: nn.Module,
        augmentations: Sequence[Callable[[Tensor], Tensor]],
        proj_dim: Annotated[int, Ge(1)] = 256,
        hidden_dim: Annotated[int, Ge(1)] = 512,
        temperature: Annotated[float, Gt(0)] = 0.2,
        base_momentum: Annotated[float, Interval(ge=0, le=1)] = 0.99,
        augment_on: AugmentOn = "auto",
        freeze_patch_embed: bool = False,
    ):
        if freeze_patch_embed:
            freeze_patch_embedding(encoder)
        head = batchnorm_mlp(3, encoder.output_dim, hidden_dim, proj_dim)
        super().__init__(encoder, head, ViewsCollate(augmentations), augment_on)
        self.predictor = batchnorm_mlp(2, proj_dim, hidden_dim, proj_dim)
        self.key_network = MomentumTarget(self.encoder, self.head, base_momentum=base_momentum, ramp=True)
        self.temperature = temperature

    from_data = byol_views("moco_v3")

    def contrast(self, query: Tensor, key: Tensor) -> Tensor:
        """``2 tau InfoNCE_tau(query, key)`` with in-batch negatives; ``[N, proj_dim]`` each."""
        return 2 * self.temperature * info_nce(query, key, temperature=self.temperature)

    def forward(self, batch: tuple[Tensor, Tensor] | StackedImages) -> TaskOutput:
        view1, view2 = self.as_views(batch)
        q1, q2 = (self.predictor(self.head(self.encoder(view))) for view in (view1, view2))
        k1, k2 = self.key_network(view1), self.key_network(view2)
        loss = self.contrast(q1, k2) + self.contrast(q2, k1)
        positive_cosine = (
            F.cosine_similarity(q1.detach(), k2) + F.cosine_similarity(q2.detach(), k1)
        ).mean() / 2
        return TaskOutput(loss, {"positive_cosine": positive_cosine})

    def on_train_step_end(self, progress: float) -> None:
        self.key_network.update(self.encoder, self.head, progress=progress)
