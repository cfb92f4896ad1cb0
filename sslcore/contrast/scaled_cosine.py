"""Scaled cosine error, GraphMAE's reconstruction objective (Hou et al. 2022, "GraphMAE:
Self-Supervised Masked Graph Autoencoders", KDD)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from sslcore.contrast._checks import check_pair, compute_dtype, no_autocast
from sslcore.contrast.distributed import global_count, share_loss, use_global


def scaled_cosine_error(
    reconstruction: Tensor, target: Tensor, gamma: float = 1.0, distributed: bool | None = None
) -> Tensor:
    r"""Mean scaled cosine error between reconstructions and their targets.

    .. math::
        \mathcal{L} = \frac{1}{N}\sum_{i=1}^{N}
            \Big(1 - \frac{r_i^\top x_i}{\lVert r_i\rVert\,\lVert x_i\rVert}\Big)^{\gamma},
            \qquad \gamma \ge 1

    The exponent :math:`\gamma` (GraphMAE's ``alpha_l``) down-weights the rows that are
    already well reconstructed (cosine near 1) relative to the hard ones; ``gamma=1`` is
    ``1 + negative_cosine``. Rows are compared by direction only, so a zero row has no
    direction: its cosine is taken as 0 (``F.cosine_similarity``'s ``eps``).

    Args:
        reconstruction: ``[N, d]`` predictions.
        target: ``[N, d]`` targets (pass ``target.detach()`` if it carries a gradient that
            should not flow).
        gamma: the exponent, ``>= 1``.
        distributed: ``None`` (default): on when the trainer runs DDP. On: average over the
            rows of every rank.

    Returns:
        Scalar in ``[0, 2 ** gamma]``.
    """
    check_pair("scaled_cosine_error", reconstruction, target, "reconstruction", "target")
    if not gamma >= 1:
        raise ValueError(f"scaled_cosine_error: gamma must be >= 1, got {gamma}")
    dtype = compute_dtype(reconstruction, target)
    with no_autocast(reconstruction.device):
        cosine = F.cosine_similarity(reconstruction.to(dtype), target.to(dtype), dim=1)
        error = (1 - cosine).pow(gamma)
        if use_global(distributed):
            return share_loss(error.sum() / global_count(len(error), error.device).to(dtype))
        return error.mean()
