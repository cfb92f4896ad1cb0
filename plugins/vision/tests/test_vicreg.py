"""VICReg (Bardes, Ponce & LeCun 2022) on the core loss sslcore.contrast.vicreg."""

from __future__ import annotations

import math

import pytest
import torch

from sslcore import ConfigError, Paradigm
from sslcore.build import build_task
from sslcore.contrast import vicreg, vicreg_terms
from sslcore.testing.steps import train_steps


@pytest.fixture
def views(make_view_task, digits_bundle, samples):
    return make_view_task("vicreg").collate(samples(digits_bundle))


def test_registered_with_the_small_cnn_byol_views_and_no_negatives(registry, make_view_task):
    spec = registry.task("vicreg")
    assert (spec.paradigm, spec.family, spec.negatives) == (Paradigm.CONTRASTIVE, "instance-instance", "none")
    task = make_view_task("vicreg")
    assert type(task.encoder).__name__ == "SmallCNN" and spec.default_encoder == "small_cnn"
    first, second = (a.distribution for a in task.views.augmentations)
    assert (first.blur_p, first.solarize_p, second.blur_p, second.solarize_p) == (1.0, 0.0, 0.1, 0.2)


def test_the_expander_has_three_linear_layers_and_the_papers_weights_are_the_defaults(make_view_task):
    task = make_view_task("vicreg", proj_dim=48, hidden_dim=24)
    linears = [m for m in task.head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 24), (24, 24), (24, 48)]
    assert linears[-1].bias is None
    assert (task.sim_weight, task.var_weight, task.cov_weight) == (25.0, 25.0, 1.0)


def test_task_loss_is_the_core_loss_of_the_expanded_views(make_view_task, views):
    task = make_view_task("vicreg", sim_weight=10.0, var_weight=5.0, cov_weight=2.0)
    view1, view2 = views
    out = task((view1, view2))
    with torch.no_grad():
        z1, z2 = (task.head(task.encoder(v)) for v in (view1, view2))  # each view its own BN batch
        s, v, c = vicreg_terms(z1, z2)
        assert torch.allclose(out.loss, vicreg(z1, z2, 10.0, 5.0, 2.0), atol=1e-5)
    assert torch.allclose(out.loss, 10 * s + 5 * v + 2 * c, atol=1e-5)
    for name, term in zip(("invariance", "variance", "covariance"), (s, v, c)):
        assert torch.allclose(out.metrics[name], term, atol=1e-6) and not out.metrics[name].requires_grad


def test_a_few_steps_lower_the_loss_and_embed_is_the_encoder(
    make_view_task, views, eval_images, digits_bundle
):
    task = make_view_task("vicreg")
    losses = train_steps(lambda step: task(views), task, steps=10, lr=1e-3, optimizer=torch.optim.AdamW)
    assert all(map(math.isfinite, losses)) and losses[-1] < 0.8 * losses[0]
    images = eval_images(digits_bundle)
    task.eval()
    with torch.no_grad():
        assert torch.equal(task.embed(images), task.encoder(images))


def test_trains_in_the_trainer_and_its_state_restores(make_view_task, digits_bundle, samples, fit):
    task = make_view_task("vicreg")
    fit(task, samples(digits_bundle), warmup=0.0)
    fresh = make_view_task("vicreg", seed=1)
    fresh.load_state_dict(task.state_dict())
    images = torch.randn(4, 1, 16, 16)
    task.eval(), fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh.head(fresh.embed(images)), task.head(task.embed(images)))


def test_negative_weights_are_rejected(registry, digits_bundle):
    with pytest.raises(ConfigError, match="var_weight"):
        build_task("vicreg", digits_bundle, task_options={"var_weight": -1.0}, registry=registry)
