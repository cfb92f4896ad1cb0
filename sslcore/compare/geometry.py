r"""Representation geometry, computed the same way for every domain from frozen
embeddings ``X`` ``[N, d]`` and labels ``y`` ``[N]``.

- **alignment** (Wang & Isola 2020) over *same-label* pairs:
  :math:`\mathbb{E}_{y_i = y_j}\lVert f(x_i) - f(x_j)\rVert^2` with :math:`f` the
  row-normalised embedding (0 = every class collapsed to a point, at most 4). Labels stand
  in for positive pairs because views are domain-specific and labels are not.
- **uniformity**: :math:`\log \mathbb{E}_{i \ne j} e^{-2\lVert f(x_i) - f(x_j)\rVert^2}`
  (lower = more uniform on the sphere; about -4 for a uniform spread in high dimension).
- **effective rank** (Roy & Vetterli 2007): :math:`\exp H(p)`, :math:`p_k = s_k / \sum s`
  over the singular values :math:`s` of the centred embeddings (1 = collapsed to a line, at most d).

Rows are subsampled to ``max_rows`` (seeded) to bound the cost.
"""

from __future__ import annotations

import numpy as np
import torch

from sslcore.contrast import alignment, uniformity


def effective_rank(X: np.ndarray) -> float:
    X = np.asarray(X, dtype=np.float64)
    s = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    if s.sum() <= 0:
        return 1.0
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def label_alignment(X: np.ndarray, y: np.ndarray, num_pairs: int = 20000, seed: int = 0) -> float:
    """Alignment over ``num_pairs`` random same-label pairs (``i != j``); NaN without any."""
    rng = np.random.default_rng(seed)
    first, second = [], []
    classes = [np.flatnonzero(y == c) for c in np.unique(y)]
    classes = [rows for rows in classes if len(rows) > 1]
    if not classes:
        return float("nan")
    sizes = np.array([len(rows) for rows in classes], dtype=np.float64)
    counts = rng.multinomial(num_pairs, sizes**2 / (sizes**2).sum())
    for rows, count in zip(classes, counts):
        i = rng.integers(0, len(rows), count)
        j = (i + rng.integers(1, len(rows), count)) % len(rows)  # never i itself
        first.append(rows[i])
        second.append(rows[j])
    a, b = np.concatenate(first), np.concatenate(second)
    with torch.no_grad():
        return float(alignment(torch.as_tensor(X[a]), torch.as_tensor(X[b]), distributed=False))


def geometry(X: np.ndarray, y: np.ndarray, max_rows: int = 2000, seed: int = 0) -> dict[str, float]:
    """``{"alignment", "uniformity", "effective_rank"}`` of embeddings ``X`` with labels ``y``."""
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"geometry: X must be [N, d] with N = len(y); got {X.shape} and {y.shape}")
    if len(X) < 2:
        raise ValueError("geometry: needs at least 2 embeddings")
    rng = np.random.default_rng(seed)
    if len(X) > max_rows:
        keep = rng.choice(len(X), max_rows, replace=False)
        X, y = X[keep], y[keep]
    with torch.no_grad():
        uni = float(uniformity(torch.as_tensor(X), distributed=False))
    return {
        "alignment": label_alignment(X, y, seed=seed),
        "uniformity": uni,
        "effective_rank": effective_rank(X),
    }
