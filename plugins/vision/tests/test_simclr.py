from __future__ import annotations

import pytest
import torch

from sslcore import ConfigError
from sslcore.build import build_encoder, build_task
from sslcore_vision.tasks.simclr import SimCLR


@pytest.fixture
def task(registry, digits_bundle) -> SimCLR:
    torch.manual_seed(0)
    return build_task(
        "simclr",
        digits_bundle,
        task_options={"proj_dim": 32, "hidden_dim": 64},
        encoder_options={"width": 8, "output_dim": 64},
        registry=registry,
    )


def raw_batch(bundle, n: int = 32) -> list[torch.Tensor]:
    return [bundle.pretrain[i] for i in range(n)]


def test_built_with_the_default_encoder_for_the_data(task, digits_bundle):
    assert type(task.encoder).__name__ == "SmallCNN"
    assert task.encoder.in_channels == digits_bundle.info["in_channels"]


def test_collate_gives_two_different_float_views(task, digits_bundle):
    view1, view2 = task.collate(raw_batch(digits_bundle))
    assert view1.shape == view2.shape == (32, 1, 16, 16)
    assert view1.dtype == view2.dtype == torch.float32
    assert not torch.allclose(view1, view2)
    images, _ = digits_bundle.evaluation.collate([digits_bundle.evaluation.dataset[i] for i in range(32)])
    assert not torch.allclose(view1, images)  # augmented, not just normalised


def test_a_few_steps_lower_the_loss(task, digits_bundle):
    torch.manual_seed(0)
    batch = task.collate(raw_batch(digits_bundle, 48))
    optimiser = torch.optim.AdamW(task.parameters(), lr=1e-3)
    losses = []
    for _ in range(10):
        out = task(batch)
        optimiser.zero_grad()
        out.loss.backward()
        optimiser.step()
        losses.append(out.loss.item())
    assert losses[-1] < 0.8 * losses[0]
    assert -1 <= out.metrics["positive_cosine"] <= 1


def test_matching_views_score_better_than_shuffled_pairs(task, digits_bundle):
    view, _ = task.collate(raw_batch(digits_bundle))
    shuffled = view[torch.randperm(len(view), generator=torch.Generator().manual_seed(0))]
    with torch.no_grad():
        identical = task((view, view)).loss
        mismatched = task((view, shuffled)).loss
    assert identical < mismatched


def test_embed_returns_one_encoder_vector_per_image(task, digits_bundle):
    evaluation = digits_bundle.evaluation
    images, labels = evaluation.collate([evaluation.dataset[i] for i in range(10)])
    task.eval()
    with torch.no_grad():
        z = task.embed(images)
        assert z.shape == (10, task.encoder.output_dim)
        assert torch.equal(z, task.encoder(images))


def test_encoder_with_other_channel_count_is_rejected(registry, digits_bundle):
    colour_encoder = build_encoder("small_cnn", {"in_channels": 3}, {}, registry)
    with pytest.raises(ConfigError, match=r"3-channel images .* 1 channel"):
        build_task("simclr", digits_bundle, encoder=colour_encoder, registry=registry)


def test_options_reach_the_head_and_the_loss(registry, digits_bundle):
    task = build_task(
        "simclr", digits_bundle, task_options={"proj_dim": 16, "temperature": 0.5}, registry=registry
    )
    assert task.head(torch.randn(4, task.encoder.output_dim)).shape == (4, 16)
    assert task.temperature == 0.5
    with pytest.raises(ConfigError, match="temperature"):
        build_task("simclr", digits_bundle, task_options={"temprature": 0.5}, registry=registry)
