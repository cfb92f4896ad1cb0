"""Resolve an EvalSet's splits into train / selection / test index arrays."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split


def selection_split(
    y: np.ndarray, splits: dict[str, np.ndarray], seed: int = 0, holdout: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fit_idx, select_idx, test_idx)``: hyper-parameters are chosen on ``"val"``, or on a
    stratified ``holdout`` part of ``"train"`` when there is no validation split. The
    test split is never used for selection."""
    for key in ("train", "test"):
        if key not in splits:
            raise ValueError(f"evaluation splits lack {key!r}: got {sorted(splits)}")
    train, test = np.asarray(splits["train"]), np.asarray(splits["test"])
    if "val" in splits:
        return train, np.asarray(splits["val"]), test
    counts = np.bincount(y[train])
    stratify = y[train] if counts[counts > 0].min() >= 2 else None
    fit, select = train_test_split(train, test_size=holdout, random_state=seed, stratify=stratify)
    return fit, select, test
