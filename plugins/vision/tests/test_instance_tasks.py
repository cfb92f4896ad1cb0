from __future__ import annotations

import copy
import math
import re
from typing import Annotated

import pytest
import torch
import torch.nn.functional as F
from annotated_types import Interval

import sslcore_vision.tasks.swav as swav_module
from sslcore import ConfigError, Paradigm
from sslcore.build import build_encoder, build_task, task_option_specs
from sslcore.contrast import barlow_twins, negative_cosine
from sslcore.paradigms import NEGATIVES
from sslcore.testing.steps import train_steps
from sslcore_vision.tasks.image_views import swap_halves
from sslcore_vision.transforms import byol_augmentations, simclr_augmentation

TASKS = ["simclr", "moco_v2", "byol", "simsiam", "swav", "barlow_twins"]


def optimiser_step(task, batch, lr: float = 1e-3) -> float:
    optimiser = torch.optim.AdamW([p for p in task.parameters() if p.requires_grad], lr=lr)
    out = task(batch)
    optimiser.zero_grad()
    out.loss.backward()
    optimiser.step()
    return out.loss.item()


def online_state(task) -> dict[str, torch.Tensor]:
    """The online (encoder, head) parameters named as in the momentum copy (0.* / 1.*)."""
    return {
        **{f"0.{k}": v.detach().clone() for k, v in task.encoder.named_parameters()},
        **{f"1.{k}": v.detach().clone() for k, v in task.head.named_parameters()},
    }


def params(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


# -- every task ------------------------------------------------------------------------


@pytest.mark.parametrize("name", TASKS)
def test_registered_as_contrastive_instance_instance_with_the_small_cnn(
    make_view_task, registry, digits_bundle, name
):
    spec = registry.task(name)
    assert spec.paradigm is Paradigm.CONTRASTIVE and spec.family == "instance-instance"
    assert spec.negatives in NEGATIVES and re.search(r"et al\. 20\d\d|& \w+ 20\d\d", spec.summary)
    task = make_view_task(name)
    assert type(task.encoder).__name__ == "SmallCNN"
    assert task.encoder.in_channels == digits_bundle.info["in_channels"]
    assert (task.paradigm, task.family, task.negatives) == (spec.paradigm, spec.family, spec.negatives)


@pytest.mark.parametrize("name", TASKS)
def test_collate_gives_different_float_views(make_view_task, digits_bundle, samples, eval_images, name):
    view1, view2 = make_view_task(name).collate(samples(digits_bundle))[:2]
    assert view1.shape == view2.shape == (32, 1, 16, 16)
    assert view1.dtype == view2.dtype == torch.float32
    assert not torch.allclose(view1, view2)
    assert not torch.allclose(view1, eval_images(digits_bundle, 32))  # augmented, not just normalised


@pytest.mark.parametrize("name", TASKS)
def test_a_few_steps_lower_the_loss_and_embed_is_the_encoder(
    make_view_task, digits_bundle, samples, eval_images, name
):
    """Pure optimisation of the objective: targets, queues and prototypes held fixed."""
    task = make_view_task(name)
    batch = task.collate(samples(digits_bundle))
    losses = train_steps(lambda step: task(batch), task, steps=10, lr=1e-3, optimizer=torch.optim.AdamW)
    assert all(map(math.isfinite, losses))
    drop = losses[0] - losses[-1]
    assert drop > 0.05 * max(1.0, abs(losses[0])) and drop > 0.2 * losses[0]  # positive losses: by a fifth
    assert -1 <= task(batch).metrics.get("positive_cosine", 0.0) <= 1
    images = eval_images(digits_bundle)
    task.eval()
    with torch.no_grad():
        z = task.embed(images)
        assert z.shape == (10, 64) and torch.equal(z, task.encoder(images))


@pytest.mark.parametrize("name", TASKS)
def test_trains_in_the_trainer_and_its_state_restores(make_view_task, digits_bundle, samples, fit, name):
    task = make_view_task(name)
    fit(task, samples(digits_bundle), warmup=0.0)
    fresh = make_view_task(name, seed=1)
    fresh.load_state_dict(task.state_dict())  # target networks and queues included
    images = torch.randn(4, 1, 16, 16)
    task.eval(), fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh.embed(images), task.embed(images))
        if name == "moco_v2":
            assert torch.equal(fresh.queue.negatives(), task.queue.negatives())


# -- SimCLR ----------------------------------------------------------------------------


def test_simclr_matching_views_score_better_than_shuffled_pairs(make_view_task, digits_bundle, samples):
    task = make_view_task("simclr")
    view, _ = task.collate(samples(digits_bundle))
    shuffled = view[torch.randperm(len(view), generator=torch.Generator().manual_seed(0))]
    with torch.no_grad():
        identical = task((view, view)).loss
        mismatched = task((view, shuffled)).loss
    assert identical < mismatched


def test_simclr_options_reach_the_head_and_the_loss(registry, digits_bundle):
    task = build_task(
        "simclr", digits_bundle, task_options={"proj_dim": 16, "temperature": 0.5}, registry=registry
    )
    assert task.head(torch.randn(4, task.encoder.output_dim)).shape == (4, 16)
    assert task.temperature == 0.5
    with pytest.raises(ConfigError, match="temperature"):
        build_task("simclr", digits_bundle, task_options={"temprature": 0.5}, registry=registry)


# -- MoCo v2 ---------------------------------------------------------------------------


def test_moco_enqueues_the_keys_after_the_step_and_keys_follow_the_query_ema(
    make_view_task, digits_bundle, samples
):
    task = make_view_task("moco_v2", queue_size=64, momentum=0.9, bn_splits=1)
    view1, view2 = task.collate(samples(digits_bundle))
    old_queue = task.queue.negatives()
    key_before = params(task.key_network.network)
    with torch.no_grad():
        expected_keys = F.normalize(copy.deepcopy(task.key_network.network)(view2), dim=1)

    optimiser_step(task, (view1, view2))
    assert torch.equal(task.queue.negatives(), old_queue)  # forward does not touch the queue
    online = online_state(task)
    task.on_train_step_end(0.5)

    queue = task.queue.negatives()  # oldest first
    assert torch.allclose(queue[-32:], expected_keys, atol=1e-5)
    assert torch.equal(queue[:-32], old_queue[32:])
    for key, after in params(task.key_network.network).items():
        assert torch.allclose(after, 0.9 * key_before[key] + 0.1 * online[key], atol=1e-6), key
    assert any(not torch.equal(key_before[k], online[k]) for k in online)  # the step moved the query


def test_moco_symmetric_loss_enqueues_the_keys_of_both_views(make_view_task, digits_bundle, samples):
    task = make_view_task("moco_v2", queue_size=256, symmetric=True)
    optimiser_step(task, task.collate(samples(digits_bundle, 16)))
    before = task.queue.negatives()
    task.on_train_step_end(0.0)
    after = task.queue.negatives()
    assert torch.equal(after[:-32], before[32:]) and not torch.allclose(after[-32:], before[-32:])


# -- BYOL ------------------------------------------------------------------------------


def test_byol_target_gets_no_gradient_and_moves_by_cosine_ema(make_view_task, digits_bundle, samples):
    task = make_view_task("byol", base_momentum=0.9)
    target_before = params(task.target.network)
    optimiser_step(task, task.collate(samples(digits_bundle)))
    target = task.target.network
    assert all(not p.requires_grad and p.grad is None for p in target.parameters())
    assert all(p.grad is not None for p in task.encoder.parameters())
    assert all(torch.equal(v, target_before[k]) for k, v in params(target).items())  # optimiser left it

    online = online_state(task)
    assert task.target.momentum(0.5) == pytest.approx(0.95)  # 1 - (1 - 0.9)(cos(pi/2) + 1) / 2
    task.on_train_step_end(1.0)  # m = 1 at the end of training: frozen
    assert all(torch.equal(v, target_before[k]) for k, v in params(target).items())
    task.on_train_step_end(0.0)  # m = base_momentum
    for key, after in params(target).items():
        assert torch.allclose(after, 0.9 * target_before[key] + 0.1 * online[key], atol=1e-6), key


def test_byol_views_are_asymmetric_solarize_and_blur():
    first, second = byol_augmentations(16, 1, [0.5], [0.5], solarize=(0.0, 1.0))
    white = torch.full((1, 20, 20), 255, dtype=torch.uint8)
    torch.manual_seed(0)
    for _ in range(10):
        # brightness jitter keeps white >= 153 (>= 0.2 normalised); solarize maps it to <= 102
        assert first(white).min() > 0 > second(white).max()
    default_first, default_second = byol_augmentations(16, 1, [0.5], [0.5])

    def probabilities(compose) -> dict[str, float]:
        found = {}
        for step in compose.transforms:
            inner = step.transforms[0] if type(step).__name__ == "RandomApply" else step
            found[type(inner).__name__] = step.p if hasattr(step, "p") else 1.0
        return found

    p1, p2 = probabilities(default_first), probabilities(default_second)
    assert p1["GaussianBlur"] == 1.0 and "RandomSolarize" not in p1
    assert p2["GaussianBlur"] == 0.1 and p2["RandomSolarize"] == 0.2
    assert "RandomGrayscale" not in p1  # grey images: brightness / contrast jitter only
    jitter = default_first.transforms[2].transforms[0]
    assert jitter.saturation is None and jitter.hue is None
    colour, _ = byol_augmentations(16, 3, [0.5] * 3, [0.5] * 3)
    assert probabilities(colour)["RandomGrayscale"] == 0.2


# -- SimSiam ---------------------------------------------------------------------------


def test_simsiam_stops_the_gradient_of_the_target_branch(make_view_task, digits_bundle, samples):
    task = make_view_task("simsiam")
    batch = task.collate(samples(digits_bundle, 16))
    last = task.predictor[-1]
    with torch.no_grad():
        last.weight.zero_()  # the prediction is the constant bias: only the target branch
        last.bias.normal_()  # could carry gradient into the encoder
    task(batch).loss.backward()
    assert all(p.grad is None or not p.grad.any() for p in task.encoder.parameters())
    assert last.bias.grad.abs().sum() > 0
    # control: without the stop-gradient the same loss does reach the encoder
    task.zero_grad()
    z = task.head(task.encoder(torch.cat(batch)))
    negative_cosine(task.predictor(z), swap_halves(z)).backward()
    assert any(p.grad.abs().sum() > 0 for p in task.encoder.parameters())


# -- SwAV ------------------------------------------------------------------------------


def test_swav_multi_crop_views_and_codes_from_the_global_crops(
    make_view_task, digits_bundle, samples, monkeypatch
):
    task = make_view_task("swav", num_local=3, local_size=0.5, queue_size=32)
    views = task.collate(samples(digits_bundle, 16))
    assert [tuple(v.shape) for v in views] == [(16, 1, 16, 16)] * 2 + [(16, 1, 8, 8)] * 3
    calls, kernel = [], swav_module.swav_loss

    def spy(scores, assign_views, *args):
        calls.append((scores, tuple(assign_views), args[-1]))  # args[-1]: queue_scores
        return kernel(scores, assign_views, *args)

    monkeypatch.setattr(swav_module, "swav_loss", spy)
    optimiser_step(task, views, lr=1e-2)
    task.on_train_step_end(0.0)
    scores, assigned, queue_scores = calls[-1]
    assert assigned == (0, 1) and len(scores) == 5 and queue_scores is None  # queue not full yet
    assert torch.allclose(task.prototypes.weight.norm(dim=1), torch.ones(task.prototypes.out_features))

    task.eval()  # BatchNorm from running statistics: each crop's scores depend on that crop only
    with torch.no_grad():
        task(views)
        scores, _, queue_scores = calls[-1]
        expected = task.prototypes(F.normalize(task.head(task.encoder(views[1])), dim=1))
    assert torch.allclose(scores[1], expected, atol=1e-5)
    assert queue_scores is None  # eval-mode forwards do not enqueue
    task.train()
    task(views)
    task.on_train_step_end(0.5)
    task(views)
    assert [tuple(s.shape) for s in calls[-1][2]] == [(32, 100)] * 2  # full queues join Sinkhorn


def test_swav_takes_any_number_of_global_crops(make_view_task, digits_bundle, samples, monkeypatch):
    task = make_view_task("swav", num_global=3, num_local=1, queue_size=16)
    views = task.collate(samples(digits_bundle, 8))
    assert [tuple(v.shape) for v in views] == [(8, 1, 16, 16)] * 3 + [(8, 1, 7, 7)]
    calls, kernel = [], swav_module.swav_loss
    monkeypatch.setattr(
        swav_module,
        "swav_loss",
        lambda scores, assign, *a: calls.append(assign) or kernel(scores, assign, *a),
    )
    task(views)
    task.on_train_step_end(0.0)
    assert calls == [(0, 1, 2)] and len(task.queues) == 3
    assert all(len(q.negatives()) == 8 for q in task.queues)  # each global crop's features queued
    with pytest.raises(ConfigError, match="swav needs at least 2 crops"):
        make_view_task("swav", num_global=1, num_local=0)


# -- Barlow Twins ----------------------------------------------------------------------


def test_barlow_twins_identical_views_leave_only_the_weighted_redundancy_term(
    make_view_task, digits_bundle, samples
):
    task = make_view_task("barlow_twins", lambda_offdiag=0.0)
    view, _ = task.collate(samples(digits_bundle))
    with torch.no_grad():
        assert task((view, view)).loss.item() == pytest.approx(0.0, abs=1e-2)
        task.lambda_offdiag = 0.5
        z = task.head(task.encoder(torch.cat([view, view])))
        z1, _ = z.chunk(2)
        assert task((view, view)).loss.item() == pytest.approx(barlow_twins(z1, z1, 0.5).item(), rel=1e-4)
        assert task((view, view)).loss.item() > 0.01


def test_swav_prototypes_can_be_frozen_for_the_first_steps(make_view_task, digits_bundle, samples):
    task = make_view_task("swav", freeze_prototypes=1)
    views = task.collate(samples(digits_bundle, 16))
    before = task.prototypes.weight.detach().clone()
    optimiser_step(task, views, lr=1e-2)
    assert task.prototypes.weight.grad is None and torch.equal(task.prototypes.weight, before)
    task.on_train_step_end(0.1)
    optimiser_step(task, views, lr=1e-2)
    assert task.prototypes.weight.grad is not None and not torch.equal(task.prototypes.weight, before)


#: the smallest crop area of each task's default views (one view recipe, one differing default)
SIMCLR_VIEW_TASKS = {"simclr": 0.08, "moco_v2": 0.2, "simsiam": 0.2}
CUSTOM_VIEWS = {
    "simclr": {"crop_min_scale": 0.5, "jitter": 0.25, "blur": True},
    "byol": {"crop_min_scale": 0.3, "blur": (0.5, 0.0), "solarize": (0.1, 0.4)},
}


@pytest.mark.parametrize("custom", [False, True], ids=["defaults", "custom"])
@pytest.mark.parametrize("name", [*SIMCLR_VIEW_TASKS, "byol", "barlow_twins"])
def test_from_data_draws_the_views_each_task_always_drew(make_view_task, digits_bundle, name, custom) -> None:
    """The shared view recipes of the instance tasks build the distributions the tasks'
    own ``from_data`` built, with the defaults each declares (and ``build_task`` checks)."""
    info = digits_bundle.info
    facts = (info["image_size"], info["in_channels"], info["mean"], info["std"])
    recipe = "simclr" if name in SIMCLR_VIEW_TASKS else "byol"
    given = CUSTOM_VIEWS[recipe] if custom else {}
    if recipe == "simclr":
        defaults = {"crop_min_scale": SIMCLR_VIEW_TASKS[name], "jitter": 0.5, "blur": False}
        expected = [simclr_augmentation(*facts, **{**defaults, **given}).distribution] * 2
    else:
        defaults = {"crop_min_scale": 0.08, "blur": (1.0, 0.1), "solarize": (0.0, 0.2)}
        expected = [a.distribution for a in byol_augmentations(*facts, **{**defaults, **given})]
    task = make_view_task(name, **given)
    assert [a.distribution for a in task.views.augmentations] == expected
    specs = task_option_specs(type(task))
    assert {k: specs[k].default for k in defaults} == defaults  # visible to the option checks
    assert str(specs["crop_min_scale"].hint) == str(Annotated[float, Interval(gt=0, le=1)])
    with pytest.raises(ConfigError, match=rf"^{name}: the encoder takes 3-channel images"):
        type(task).from_data(build_encoder("small_cnn", {**info, "in_channels": 3}), info)
