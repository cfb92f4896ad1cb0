"""Tabular datasets that ship with scikit-learn (no download, no data root)."""

from pathlib import Path

import numpy as np
import torch
from sklearn import datasets
from sklearn.model_selection import train_test_split

from sslcore import DatasetBundle, EvalSet


def _bundle(name: str, X: np.ndarray, y: np.ndarray, seed: int = 0) -> DatasetBundle:
    X = (X - X.mean(0)) / (X.std(0) + 1e-8)
    rows = torch.tensor(X, dtype=torch.float32)
    labels = torch.tensor(y, dtype=torch.long)
    train, test = train_test_split(np.arange(len(y)), test_size=0.3, random_state=seed, stratify=y)
    evaluation = EvalSet(
        list(zip(rows, labels)), {"train": train, "test": test}, num_classes=int(y.max()) + 1
    )
    return DatasetBundle(
        name,
        "tabular",
        "row",
        pretrain=list(rows),
        evaluation=evaluation,
        info={"num_features": X.shape[1], "marginals": rows, "num_classes": int(y.max()) + 1},
    )


def breast_cancer(root: Path | None = None) -> DatasetBundle:
    X, y = datasets.load_breast_cancer(return_X_y=True)
    return _bundle("breast-cancer", X, y)


def wine(root: Path | None = None) -> DatasetBundle:
    X, y = datasets.load_wine(return_X_y=True)
    return _bundle("wine", X, y)
