"""The ``link`` protocol: AUC / AP of held-out pairs scored by frozen embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from sslcore.evaluation import get_protocol
from sslcore.evaluation.link import LinkResult, auc_ap, link_prediction, link_scores


def two_communities(n: int = 20, dim: int = 4, seed: int = 0):
    """Rows 0..n/2-1 near +e0, the rest near -e0: same-community pairs have a large inner
    product, cross-community pairs a negative one."""
    rng = np.random.default_rng(seed)
    X = 0.05 * rng.standard_normal((n, dim))
    X[: n // 2, 0] += 1.0
    X[n // 2 :, 0] -= 1.0
    half = n // 2
    same = np.array([[0, 1, 2, 3, half, half + 1], [4, 5, 6, 7, half + 2, half + 3]])
    cross = np.array([[0, 1, 2, 3, 4, 5], [half, half + 1, half + 2, half + 3, half + 4, half + 5]])
    return X.astype(np.float32), same, cross


def splits_for(same: np.ndarray, cross: np.ndarray, positive_is_same: bool = True) -> dict[str, np.ndarray]:
    pos, neg = (same, cross) if positive_is_same else (cross, same)
    return {
        "train": np.arange(2),
        "test": np.arange(2, 4),
        "link_test": pos,
        "link_test_negative": neg,
        "link_val": pos[:, :3],
        "link_val_negative": neg[:, :3],
    }


def test_perfect_embeddings_give_auc_and_ap_of_one() -> None:
    X, same, cross = two_communities()
    result = link_prediction(X, None, splits_for(same, cross))
    assert isinstance(result, LinkResult) and result.protocol == "link"
    assert result.test_auc == pytest.approx(1.0) and result.test_ap == pytest.approx(1.0)
    assert result.val_auc == pytest.approx(1.0) and result.test_accuracy == pytest.approx(1.0)
    assert result.num_test == 12


def test_reversed_embeddings_give_auc_zero() -> None:
    X, same, cross = two_communities()
    result = link_prediction(X, None, splits_for(same, cross, positive_is_same=False))
    assert result.test_auc == pytest.approx(0.0)
    # the worst ranking: the 6 positives last of 12, precision k / (6 + k) at the k-th one
    assert result.test_ap == pytest.approx(np.mean([k / (6 + k) for k in range(1, 7)]))


def test_auc_and_ap_match_sklearn_on_a_mixed_ranking() -> None:
    X = np.array([[1.0], [2.0], [3.0], [-1.0]], dtype=np.float32)
    pos = np.array([[0, 1], [1, 2]])  # scores 2, 6
    neg = np.array([[0, 2], [3, 0]])  # scores 3, -1
    auc, ap = auc_ap(X, pos, neg)
    assert auc == pytest.approx(0.75)  # pairs (pos > neg): 6>3, 6>-1, 2>-1, not 2>3
    assert ap == pytest.approx((1 / 1 + 2 / 3) / 2)  # ranking 6(+), 3(-), 2(+), -1(-)
    np.testing.assert_allclose(link_scores(X, pos), [2.0, 6.0])


def test_cosine_score_ignores_the_norm() -> None:
    X = np.array([[1.0, 0.0], [10.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(link_scores(X, np.array([[0, 0], [1, 2]]), "cosine"), [1.0, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match="score must be one of"):
        link_scores(X, np.array([[0], [1]]), "euclid")


def test_the_threshold_is_chosen_on_val_pairs() -> None:
    X, same, cross = two_communities()
    X[:, 1] += 3.0  # every inner product is now positive (about 10 within, 8 across)
    result = link_prediction(X, None, splits_for(same, cross))
    assert result.test_auc == pytest.approx(1.0)
    assert result.selected["threshold"] > 0 and result.test_accuracy == pytest.approx(1.0)
    no_val = {k: v for k, v in splits_for(same, cross).items() if not k.startswith("link_val")}
    blind = link_prediction(X, None, no_val)  # threshold 0: every pair predicted a link
    assert blind.val_auc is None and blind.test_accuracy == pytest.approx(0.5)


def test_registered_as_the_link_protocol() -> None:
    assert get_protocol("link") is link_prediction


def test_missing_pairs_name_the_splits_and_the_dataset_option() -> None:
    X, _, _ = two_communities()
    with pytest.raises(ValueError, match=r"'link_test'.*link_split=true"):
        link_prediction(X, None, {"train": np.arange(3), "test": np.arange(3, 6)})


@pytest.mark.parametrize(
    ("pairs", "problem"),
    [
        (np.array([[0, 1, 99], [1, 2, 3]]), r"rows 0\.\.99 but there are 20"),
        (np.array([[0, 1, 2]]), r"shape \[2, num_pairs\]"),
        (np.zeros((2, 0), dtype=np.int64), "no pairs"),
        (np.array([[0.0, 1.0], [1.0, 2.0]]), "integer"),
    ],
)
def test_bad_pairs_are_rejected(pairs: np.ndarray, problem: str) -> None:
    X, same, cross = two_communities()
    splits = splits_for(same, cross) | {"link_test": pairs}
    with pytest.raises(ValueError, match=problem):
        link_prediction(X, None, splits)
