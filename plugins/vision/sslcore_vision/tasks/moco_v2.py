"""MoCo v2 (He et al. 2020, "Momentum Contrast for Unsupervised Visual Representation
Learning"; Chen et al. 2020, "Improved Baselines with Momentum Contrastive Learning")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import torch
import torch.nn.functional as F
from annotated_types import Ge, Gt, Interval
from torch import Tensor, nn

from sslcore import TaskOutput, info_nce
from sslcore.contrast import NegativeQueue
from sslcore_vision.batched import StackedImages
from sslcore_vision.heads import projection_mlp
from sslcore_vision.tasks.image_views import AugmentOn, ImageViewsTask, simclr_views
from sslcore_vision.tasks.momentum_target import MomentumTarget
from sslcore_vision.transforms import TwoViewCollate


class MoCoV2(ImageViewsTask):
    r"""Find each query's momentum-encoded key among a queue of earlier keys.

    .. math::
        q = g(f(t_1(x))), \quad k = g_\xi(f_\xi(t_2(x))), \qquad
        \mathcal{L} = \text{InfoNCE}_\tau(q, k;\ \text{queue}), \qquad
        \xi \leftarrow m\,\xi + (1 - m)\,\theta

    with query encoder ``f``, MLP projection ``g`` (parameters :math:`\theta`), their
    momentum copy (:math:`\xi`), and a FIFO queue of ``queue_size`` keys of earlier
    batches as the only negatives (it starts as random unit vectors, as the reference
    code's). ``symmetric``: also ``InfoNCE(q(t_2), k(t_1))``, averaged. With
    ``bn_splits > 1`` BatchNorm statistics are computed on that many chunks of the batch,
    the key batch shuffled first (the paper's shuffling BN on one process), so a query
    and its key never share batch statistics.

    Batch: ``(view1, view2)``, each ``[N, C, H, W]`` float. :meth:`on_train_step_end`
    updates :math:`\xi` and then pushes this step's keys ``[N, proj_dim]`` (``2N`` when
    symmetric). ``embed(images [N, C, H, W]) -> [N, output_dim]``: the query encoder.
    """

    signal = "instance identity across augmented views"
    negatives = "momentum"

    def __init__(
        self,
        encoder: nn.Module,
        augmentation: Callable[[Tensor], Tensor],
        proj_dim: Annotated[int, Ge(1)] = 128,
        hidden_dim: Annotated[int, Ge(1)] = 512,
        temperature: Annotated[float, Gt(0)] = 0.2,
        queue_size: Annotated[int, Ge(1)] = 4096,
        momentum: Annotated[float, Interval(ge=0, le=1)] = 0.99,
        momentum_ramp: bool = False,
        symmetric: bool = False,
        bn_splits: Annotated[int, Ge(1)] = 4,
        augment_on: AugmentOn = "auto",
    ):
        head = projection_mlp(encoder.output_dim, hidden_dim, proj_dim)
        super().__init__(encoder, head, TwoViewCollate(augmentation), augment_on)
        self.key_network = MomentumTarget(self.encoder, self.head, base_momentum=momentum, ramp=momentum_ramp)
        self.queue = NegativeQueue(queue_size, proj_dim)
        self.queue.push(torch.randn(queue_size, proj_dim))
        self.temperature, self.symmetric, self.bn_splits = temperature, symmetric, bn_splits
        self._new_keys: Tensor | None = None

    from_data = simclr_views("moco_v2", min_scale=0.2)

    def _in_chunks(self, network: nn.Module, images: Tensor, shuffle: bool) -> Tensor:
        """``network`` on ``bn_splits`` chunks of ``images`` (shuffled first if asked), rows
        returned in the input order."""
        splits = min(self.bn_splits, len(images) // 2)
        if splits <= 1:
            return network(images)
        order = torch.randperm(len(images), device=images.device) if shuffle else None
        chunks = (images if order is None else images[order]).tensor_split(splits)
        out = torch.cat([network(chunk) for chunk in chunks])
        return out if order is None else out[torch.argsort(order)]

    def forward(self, batch: tuple[Tensor, Tensor] | StackedImages) -> TaskOutput:
        view1, view2 = self.as_views(batch)
        queries, keys = ([view1, view2], [view2, view1]) if self.symmetric else ([view1], [view2])
        q = self._in_chunks(nn.Sequential(self.encoder, self.head), torch.cat(queries), shuffle=False)
        k = self._in_chunks(self.key_network, torch.cat(keys), shuffle=True)
        loss = info_nce(q, k, self.queue.negatives(), temperature=self.temperature)
        if self.training:
            self._new_keys = k
        positive_cosine = F.cosine_similarity(q.detach(), k).mean()
        return TaskOutput(loss, {"positive_cosine": positive_cosine})

    def on_train_step_end(self, progress: float) -> None:
        self.key_network.update(self.encoder, self.head, progress=progress)
        if self._new_keys is not None:
            self.queue.push(self._new_keys)
            self._new_keys = None
