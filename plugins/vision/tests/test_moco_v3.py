"""MoCo v3 (Chen, Xie & He 2021): symmetric in-batch InfoNCE against a momentum encoder."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sslcore import ConfigError, Paradigm
from sslcore.build import build_task
from sslcore.testing.steps import train_steps


def params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def online_state(task) -> dict[str, torch.Tensor]:
    """The online (encoder, projector) parameters named as in the momentum copy (0.* / 1.*)."""
    return {
        **{f"0.{k}": v.detach().clone() for k, v in task.encoder.named_parameters()},
        **{f"1.{k}": v.detach().clone() for k, v in task.head.named_parameters()},
    }


@pytest.fixture
def views(make_view_task, digits_bundle, samples):
    return make_view_task("moco_v3").collate(samples(digits_bundle))


def test_registered_with_the_small_cnn_byol_views_and_in_batch_negatives(
    registry, make_view_task, digits_bundle
):
    spec = registry.task("moco_v3")
    assert (spec.paradigm, spec.family, spec.negatives) == (
        Paradigm.CONTRASTIVE,
        "instance-instance",
        "end-to-end",
    )
    task = make_view_task("moco_v3")
    assert type(task.encoder).__name__ == "SmallCNN" and spec.default_encoder == "small_cnn"
    first, second = (a.distribution for a in task.views.augmentations)
    assert (first.blur_p, first.solarize_p, second.blur_p, second.solarize_p) == (1.0, 0.0, 0.1, 0.2)


def test_heads_are_a_3_layer_projector_and_a_2_layer_predictor_with_batchnorm(make_view_task):
    task = make_view_task("moco_v3", proj_dim=16, hidden_dim=24)
    linears = [[m for m in mlp if isinstance(m, torch.nn.Linear)] for mlp in (task.head, task.predictor)]
    assert [len(layers) for layers in linears] == [3, 2]
    assert [(m.in_features, m.out_features) for m in linears[0]] == [(64, 24), (24, 24), (24, 16)]
    assert [(m.in_features, m.out_features) for m in linears[1]] == [(16, 24), (24, 16)]
    assert isinstance(task.head[-1], torch.nn.BatchNorm1d) and not task.head[-1].affine
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in task.predictor) == 2


@pytest.mark.parametrize("temperature", [0.2, 1.0])
def test_loss_is_the_reference_codes_scaled_symmetric_cross_entropy(make_view_task, views, temperature):
    """L = ctr(q1, k2) + ctr(q2, k1), ctr = CE(q k^T / tau, diagonal) * 2 tau (moco-v3/moco/builder.py)."""
    task = make_view_task("moco_v3", temperature=temperature)
    view1, view2 = views
    out = task((view1, view2))
    with torch.no_grad():
        q1, q2 = (task.predictor(task.head(task.encoder(v))) for v in (view1, view2))
        k1, k2 = task.key_network(view1), task.key_network(view2)

    def ctr(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / temperature
        return F.cross_entropy(logits, torch.arange(len(q))) * 2 * temperature

    assert torch.allclose(out.loss, ctr(q1, k2) + ctr(q2, k1), atol=1e-5)
    expected_cosine = (F.cosine_similarity(q1, k2).mean() + F.cosine_similarity(q2, k1).mean()) / 2
    assert torch.allclose(out.metrics["positive_cosine"], expected_cosine, atol=1e-5)


def test_the_key_network_starts_as_a_copy_of_the_online_encoder_and_projector(make_view_task, views):
    task = make_view_task("moco_v3")
    with torch.no_grad():
        assert torch.allclose(task.key_network(views[0]), task.head(task.encoder(views[0])), atol=1e-6)


def test_keys_get_no_gradient_and_move_only_at_step_end_with_the_cosine_momentum(make_view_task, views):
    task = make_view_task("moco_v3", base_momentum=0.9)
    key_before = params(task.key_network.network)
    optimiser = torch.optim.AdamW([p for p in task.parameters() if p.requires_grad], lr=1e-3)
    task(views).loss.backward()
    optimiser.step()
    assert all(not p.requires_grad and p.grad is None for p in task.key_network.parameters())
    assert all(torch.equal(v, key_before[k]) for k, v in params(task.key_network.network).items())

    online = online_state(task)
    assert any(not torch.equal(key_before[k], online[k]) for k in online)  # the step moved the online side
    task.on_train_step_end(0.5)
    m = 1 - (1 - 0.9) * (math.cos(math.pi * 0.5) + 1) / 2  # 0.95 halfway through training
    for key, after in params(task.key_network.network).items():
        assert torch.allclose(after, m * key_before[key] + (1 - m) * online[key], atol=1e-6), key
    assert task.key_network.momentum(0.0) == pytest.approx(0.9)
    assert task.key_network.momentum(1.0) == pytest.approx(1.0)


def test_a_few_steps_lower_the_loss_and_embed_is_the_encoder(
    make_view_task, views, eval_images, digits_bundle
):
    """Pure optimisation of the objective, the keys held fixed."""
    task = make_view_task("moco_v3")
    losses = train_steps(lambda step: task(views), task, steps=10, lr=1e-3, optimizer=torch.optim.AdamW)
    assert all(map(math.isfinite, losses)) and losses[-1] < 0.8 * losses[0]
    images = eval_images(digits_bundle)
    task.eval()
    with torch.no_grad():
        assert torch.equal(task.embed(images), task.encoder(images))


def test_trains_in_the_trainer_and_its_state_restores(make_view_task, digits_bundle, samples, fit):
    task = make_view_task("moco_v3")
    key_before = params(task.key_network.network)
    fit(task, samples(digits_bundle), warmup=0.0)
    assert any(not torch.equal(v, key_before[k]) for k, v in params(task.key_network.network).items())
    fresh = make_view_task("moco_v3", seed=1)
    fresh.load_state_dict(task.state_dict())
    images = torch.randn(4, 1, 16, 16)
    task.eval(), fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh.key_network(images), task.key_network(images))


def test_options_are_checked(registry, digits_bundle):
    with pytest.raises(ConfigError, match="temperature"):
        build_task("moco_v3", digits_bundle, task_options={"temperature": 0.0}, registry=registry)
    with pytest.raises(ConfigError, match="base_momentum"):
        build_task("moco_v3", digits_bundle, task_options={"base_momentum": 1.5}, registry=registry)


def test_freeze_patch_embed_keeps_a_vits_patch_projection_at_its_initialisation(
    registry, digits_bundle, samples
):
    torch.manual_seed(0)
    vit_options = {"depth": 1, "embed_dim": 32, "num_heads": 2}
    task = build_task(
        "moco_v3",
        digits_bundle,
        "vit",
        encoder_options=vit_options,
        task_options={"proj_dim": 16, "hidden_dim": 24, "freeze_patch_embed": True},
        registry=registry,
    )
    patch = params(task.encoder.vit.patch_embed)
    assert patch and all(not p.requires_grad for p in task.encoder.vit.patch_embed.parameters())
    blocks = params(task.encoder.vit.blocks)
    views = task.collate(samples(digits_bundle))
    train_steps(lambda step: task(views), task, steps=3, lr=1e-2, optimizer=torch.optim.AdamW)
    assert all(torch.equal(v, patch[k]) for k, v in params(task.encoder.vit.patch_embed).items())
    assert any(not torch.equal(v, blocks[k]) for k, v in params(task.encoder.vit.blocks).items())


def test_freeze_patch_embed_on_a_cnn_names_the_fix(registry, digits_bundle):
    with pytest.raises(ConfigError, match="SmallCNN has no 'patch_embed' module; use a ViT encoder"):
        build_task("moco_v3", digits_bundle, task_options={"freeze_patch_embed": True}, registry=registry)
