"""Learning-rate schedule as a function of budget progress."""

from __future__ import annotations

import math


def warmup_cosine(progress: float, warmup: float, min_ratio: float = 0.0) -> float:
    r"""Multiplier of the base learning rate at ``progress`` in [0, 1].

    .. math::
        m(p) = \begin{cases} \max(p / w,\ 10^{-3}) & p < w \\
        r + (1 - r)\,\tfrac12\bigl(1 + \cos\pi\,\tfrac{p - w}{1 - w}\bigr) & p \ge w \end{cases}

    The floor keeps the very first step (``p = 0``) from having a zero learning rate.
    """
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return max(progress / warmup, 1e-3)
    t = (progress - warmup) / (1 - warmup) if warmup < 1 else 1.0
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))
