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


def cosine_ramp(progress: float, start: float, end: float) -> float:
    r"""A value moving from ``start`` to ``end`` along a half cosine over ``progress`` in [0, 1]
    (clamped): BYOL's / DINO's target momentum 0.996 -> 1, a weight decay schedule.

    .. math::
        v(p) = e - (e - s)\,\tfrac12\bigl(1 + \cos \pi p\bigr)
    """
    progress = min(max(progress, 0.0), 1.0)
    return end - (end - start) * 0.5 * (1 + math.cos(math.pi * progress))


def linear_warmup(progress: float, start: float, end: float, warmup: float) -> float:
    r"""A value rising linearly from ``start`` to ``end`` over the first ``warmup`` fraction of
    training, then held at ``end`` (DINO's teacher temperature 0.04 -> 0.07):

    .. math::
        v(p) = s + (e - s)\,\min(p / w, 1) \quad (w > 0), \qquad v(p) = e \quad (w = 0)
    """
    if not 0.0 <= warmup <= 1.0:
        raise ValueError(f"linear_warmup: warmup must be a fraction of training in [0, 1], got {warmup}")
    progress = min(max(progress, 0.0), 1.0)
    return end if warmup == 0 or progress >= warmup else start + (end - start) * progress / warmup
