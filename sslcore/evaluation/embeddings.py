"""Embedding extraction through ``task.embed`` — the only thing protocols see."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from sslcore.data import EvalSet
from sslcore.engine.batch import move_to
from sslcore.paradigms import PretextTask


@torch.no_grad()
def extract_embeddings(
    task: PretextTask, evalset: EvalSet, device: torch.device | str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, y)``: ``X`` is ``[num_rows, d]`` float32 from ``task.embed``, ``y`` the
    ``[num_rows]`` labels, rows in dataset order (indexable by ``evalset.splits``)."""
    was_training = task.training
    task.eval()
    task.to(device)
    loader = DataLoader(
        evalset.dataset, batch_size=evalset.batch_size, shuffle=False, collate_fn=evalset.collate
    )  # type: ignore[arg-type]
    xs, ys = [], []
    try:
        for inputs, labels in loader:
            z = task.embed(move_to(inputs, device))
            labels = torch.as_tensor(labels)
            if z.dim() != 2 or z.shape[0] != labels.shape[0]:
                raise ValueError(
                    f"{type(task).__name__}.embed returned shape {tuple(z.shape)} for a batch of "
                    f"{labels.shape[0]} labels; expected [{labels.shape[0]}, d]"
                )
            xs.append(z.float().cpu().numpy())
            ys.append(labels.cpu().numpy())
    finally:
        task.train(was_training)
    if not xs:
        raise ValueError("the evaluation set is empty")
    X, y = np.concatenate(xs), np.concatenate(ys)
    if not np.isfinite(X).all():
        raise ValueError(f"{type(task).__name__}.embed produced NaN or infinite values")
    return X, y
