"""Negative cosine similarity, the BYOL / SimSiam regression objective."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from sslcore.contrast._checks import check_pair, compute_dtype, no_autocast
from sslcore.contrast.distributed import global_count, share_loss, use_global


def negative_cosine(p: Tensor, z: Tensor, distributed: bool | None = None) -> Tensor:
    r"""Mean negative cosine similarity between predictions and targets.

    .. math::
        \mathcal{L} = -\frac{1}{N}\sum_i \frac{p_i^\top z_i}{\lVert p_i\rVert\,\lVert z_i\rVert}

    BYOL's loss :math:`\lVert \bar p - \bar z \rVert^2 = 2 - 2\cos` equals ``2 + 2 * L``.
    The stop-gradient on the target (SimSiam) or the momentum target (BYOL) is the
    task's business: pass ``z.detach()`` where the method requires it.

    Args:
        p: ``[N, d]`` predictions.
        z: ``[N, d]`` targets.
        distributed: ``None`` (default): on when the trainer runs DDP. On: average over the rows of every rank.

    Returns:
        Scalar in ``[-1, 1]``.
    """
    check_pair("negative_cosine", p, z, "p", "z")
    dtype = compute_dtype(p, z)
    with no_autocast(p.device):
        cosine = F.cosine_similarity(p.to(dtype), z.to(dtype), dim=1)
        if use_global(distributed):
            return share_loss(-cosine.sum() / global_count(len(cosine), cosine.device).to(dtype))
        return -cosine.mean()
