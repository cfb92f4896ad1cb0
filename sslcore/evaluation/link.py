"""Link prediction on frozen embeddings: AUC and average precision of held-out pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from sslcore.evaluation.linear import ProbeResult

SCORES = ("dot", "cosine")


@dataclass
class LinkResult(ProbeResult):
    """:class:`ProbeResult` plus the ranking metrics of the ``link`` protocol.
    ``test_accuracy`` is the accuracy of thresholding the scores (threshold chosen on the
    validation pairs, 0 without them); ``test_auc`` / ``test_ap`` are the headline numbers."""

    test_auc: float = float("nan")
    test_ap: float = float("nan")
    val_auc: float | None = None
    val_ap: float | None = None
    score: str = "dot"


def _pairs(X: np.ndarray, pairs: np.ndarray, name: str) -> np.ndarray:
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[0] != 2 or not np.issubdtype(pairs.dtype, np.integer):
        raise ValueError(f"{name}: expected integer row pairs of shape [2, num_pairs], got {pairs.shape}")
    if pairs.shape[1] == 0:
        raise ValueError(f"{name}: no pairs")
    if pairs.min() < 0 or pairs.max() >= len(X):
        raise ValueError(
            f"{name}: pairs reference rows {pairs.min()}..{pairs.max()} but there are {len(X)} embeddings"
        )
    return pairs


def link_scores(X: np.ndarray, pairs: np.ndarray, score: str = "dot") -> np.ndarray:
    r"""Score ``pairs`` ``[2, P]`` (row ids into ``X`` ``[N, d]``): ``"dot"``
    :math:`x_i^\top x_j` (the inner-product decoder of graph auto-encoders before its
    sigmoid, which changes neither AUC nor AP) or ``"cosine"``. Returns ``[P]``."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    X = np.asarray(X, dtype=np.float64)
    if score == "cosine":
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    return np.einsum("pd,pd->p", X[pairs[0]], X[pairs[1]])


def auc_ap(
    X: np.ndarray, positive: np.ndarray, negative: np.ndarray, score: str = "dot"
) -> tuple[float, float]:
    """``(ROC AUC, average precision)`` of separating ``positive`` from ``negative`` pairs
    (each ``[2, P]`` row ids into ``X``) by :func:`link_scores` (sklearn's metrics)."""
    pos = link_scores(X, _pairs(X, positive, "positive pairs"), score)
    return _ranking(pos, link_scores(X, _pairs(X, negative, "negative pairs"), score))


def _ranking(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """``(ROC AUC, average precision)`` of the scores ``pos`` above ``neg``."""
    labels = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    scores = np.concatenate([pos, neg])
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


def _accuracy(pos: np.ndarray, neg: np.ndarray, threshold: np.ndarray | float) -> np.ndarray:
    """Accuracy of predicting "link" for ``score > threshold`` (one value per threshold)."""
    t = np.asarray(threshold)
    correct = len(pos) - np.searchsorted(np.sort(pos), t, "right") + np.searchsorted(np.sort(neg), t, "right")
    return correct / (len(pos) + len(neg))


def _best_threshold(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """``(threshold, accuracy)`` maximising the accuracy of ``score > threshold``; the
    candidates are the midpoints between consecutive distinct scores (and both ends)."""
    values = np.unique(np.concatenate([pos, neg]))
    candidates = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    acc = _accuracy(pos, neg, candidates)
    best = int(np.argmax(acc))
    return float(candidates[best]), float(acc[best])


def link_prediction(
    X: np.ndarray,
    y: np.ndarray | None = None,
    splits: dict[str, np.ndarray] | None = None,
    score: str = "dot",
    seed: int = 0,
) -> LinkResult:
    r"""Link-prediction protocol: rank held-out positive pairs above negative ones by a
    parameter-free score of the frozen embeddings (:func:`link_scores`, default the inner
    product :math:`x_i^\top x_j`), reported as ROC AUC and average precision.

    The pairs travel in the evaluation splits, as ``[2, num_pairs]`` row ids into ``X``:
    ``"link_test"`` / ``"link_test_negative"`` (required) and ``"link_val"`` /
    ``"link_val_negative"`` (optional; they only choose the threshold of
    ``test_accuracy``). The dataset draws them and must keep them out of what the task
    is trained and embedded on (for graphs: held-out edges and as many sampled
    non-edges). ``y`` and ``seed`` are unused (the protocol has no randomness); they
    keep the signature of the other protocols.

    Args:
        X: ``[num_rows, d]`` embeddings.
    """
    splits = splits or {}
    missing = [k for k in ("link_test", "link_test_negative") if k not in splits]
    if missing:
        raise ValueError(
            f"the evaluation set carries no held-out pairs for link prediction (splits lack "
            f"{', '.join(map(repr, missing))}; got {sorted(splits)}). The dataset must hold out "
            f"edges, e.g. a graph dataset built with the option link_split=true "
            f"(`sslcore pretrain ... --dataset-opt link_split=true`)"
        )

    def scored(part: str) -> tuple[np.ndarray, np.ndarray]:
        return tuple(link_scores(X, _pairs(X, splits[k], k), score) for k in (part, part + "_negative"))

    test_pos, test_neg = scored("link_test")
    val_auc = val_ap = val_accuracy = None
    threshold = 0.0
    if "link_val" in splits and "link_val_negative" in splits:
        val_pos, val_neg = scored("link_val")
        val_auc, val_ap = _ranking(val_pos, val_neg)
        threshold, val_accuracy = _best_threshold(val_pos, val_neg)
    accuracy = float(_accuracy(test_pos, test_neg, threshold))
    result = LinkResult(
        "link", accuracy, val_accuracy, {"threshold": threshold}, num_test=len(test_pos) + len(test_neg)
    )
    result.test_auc, result.test_ap = _ranking(test_pos, test_neg)
    result.val_auc, result.val_ap, result.score = val_auc, val_ap, score
    return result
