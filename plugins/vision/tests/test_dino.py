"""DINO: multi-crop views, the momentum teacher, centring, the teacher temperature schedule,
the frozen last layer and checkpoint resume."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

import sslcore_vision.tasks.dino as dino_module
from sslcore import ConfigError, Paradigm
from sslcore.build import build_task, task_option_specs
from sslcore.contrast import update_center
from sslcore.engine.schedule import cosine_ramp
from sslcore.testing.steps import train_steps
from sslcore_vision.heads import DINOHead, TokenBatchNorm
from sslcore_vision.tasks.dino import DINO, teacher_entropy
from sslcore_vision.transforms import dino_augmentations

SMALL = {"out_dim": 64, "hidden_dim": 32, "bottleneck_dim": 16}


@pytest.fixture
def make_dino(registry, digits_bundle):
    """``make(seed=0, **options)``: DINO on digits with a small head and encoder."""

    def make(seed: int = 0, **options):
        torch.manual_seed(seed)
        return build_task(
            "dino",
            digits_bundle,
            task_options={**SMALL, **options},
            encoder_options={"width": 8, "output_dim": 32},
            registry=registry,
        )

    return make


def views_of(task, bundle, samples, n: int = 16) -> tuple[torch.Tensor, ...]:
    return task.collate(samples(bundle, n))


def test_registered_with_its_taxonomy_and_options(registry, make_dino):
    spec = registry.task("dino")
    assert spec.paradigm is Paradigm.CONTRASTIVE and spec.default_encoder == "small_cnn"
    assert (DINO.family, DINO.negatives) == ("instance-instance", "none") and "distillation" in DINO.signal
    specs = task_option_specs(DINO)
    defaults = {name: option.default for name, option in specs.items()}
    assert defaults["num_global"] == 2 and defaults["num_local"] == 2
    assert defaults["global_scale"] == (0.4, 1.0) and defaults["local_scale"] == (0.05, 0.4)
    assert defaults["student_temperature"] == 0.1 and defaults["center_momentum"] == 0.9
    assert defaults["base_momentum"] == 0.996 and defaults["teacher_temperature"] == 0.04
    task = make_dino()
    assert isinstance(task.head, DINOHead) and task.embed is not None
    images = torch.randn(3, 1, 16, 16)
    task.eval()
    assert torch.equal(task.embed(images), task.encoder(images))  # embed: the student encoder


def test_multi_crop_views_and_one_teacher_pass_over_the_global_crops(make_dino, digits_bundle, samples):
    task = make_dino(num_global=3, num_local=4, local_size=0.5)
    views = views_of(task, digits_bundle, samples)
    assert [tuple(v.shape) for v in views] == [(16, 1, 16, 16)] * 3 + [(16, 1, 8, 8)] * 4
    first, second, third = (a.distribution for a in task.views.augmentations[:3])
    assert first == third and (first.blur_p, second.blur_p, second.solarize_p) == (1.0, 0.1, 0.2)
    seen = []
    task.teacher.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape))
    task(views)
    assert seen == [(48, 1, 16, 16)]  # the teacher sees the 3 global crops only


def test_a_crop_count_without_pairs_is_a_config_error(make_dino, registry, digits_bundle):
    with pytest.raises(ConfigError, match="num_global=0: must be >= 1"):
        make_dino(num_global=0)
    with pytest.raises(ConfigError, match="dino needs at least 2 crops"):
        make_dino(num_global=1, num_local=0)
    encoder = make_dino().encoder
    (first, _), local = dino_augmentations(16, 1, [0.5], [0.5])
    with pytest.raises(ConfigError, match="at least one global crop"):
        DINO(encoder, first, local, num_global=0, num_local=4)


def test_teacher_temperature_warms_up_linearly_then_holds(make_dino, digits_bundle, samples, monkeypatch):
    task = make_dino(
        warmup_teacher_temperature=0.04, teacher_temperature=0.07, teacher_temperature_warmup=0.2
    )
    expected = {0.0: 0.04, 0.1: 0.055, 0.2: 0.07, 0.9: 0.07}
    for progress, tau in expected.items():
        assert task.teacher_temperature_at(progress) == pytest.approx(tau)
    used, kernel = [], dino_module.dino_loss
    monkeypatch.setattr(dino_module, "dino_loss", lambda *a: used.append(a[4]) or kernel(*a))
    views = views_of(task, digits_bundle, samples, 8)
    task(views)
    task.on_train_step_end(0.1)
    task(views)
    assert used == pytest.approx([0.04, 0.055])  # forward reads the progress of the last step


def test_teacher_gets_no_gradient_and_moves_only_in_the_step_callback(make_dino, digits_bundle, samples):
    task = make_dino()
    views = views_of(task, digits_bundle, samples)
    teacher_before = {k: v.detach().clone() for k, v in task.teacher.named_parameters()}
    center_before = task.center.clone()
    optimiser = torch.optim.SGD([p for p in task.parameters() if p.requires_grad], lr=0.5)
    task(views).loss.backward()
    optimiser.step()
    assert all(p.grad is None and not p.requires_grad for p in task.teacher.parameters())
    assert all(torch.equal(v, teacher_before[k]) for k, v in task.teacher.named_parameters())
    assert torch.equal(task.center, center_before)  # forward changes no state
    with torch.no_grad():
        teacher_outputs = task.teacher(torch.cat(views[:2]))  # the same outputs forward saw
    student = {f"0.{k}": v for k, v in task.encoder.state_dict().items()}
    student |= {f"1.{k}": v for k, v in task.head.state_dict().items()}
    task.on_train_step_end(0.5)
    m = cosine_ramp(0.5, 0.996, 1.0)
    for name, param in task.teacher.network.named_parameters():
        assert torch.allclose(
            param, m * teacher_before[f"network.{name}"] + (1 - m) * student[name], atol=1e-6
        )
    assert torch.allclose(task.center, update_center(center_before, teacher_outputs, 0.9), atol=1e-6)
    assert torch.allclose(
        task.center, 0.9 * center_before + 0.1 * teacher_outputs.mean(0, keepdim=True), atol=1e-6
    )


def test_teacher_entropy_spans_one_hot_to_uniform():
    center = torch.zeros(1, 64)
    assert teacher_entropy(torch.zeros(5, 64), center, 0.04).item() == pytest.approx(math.log(64))
    assert teacher_entropy(100 * torch.eye(64)[:5], center, 0.04).item() == pytest.approx(0.0, abs=1e-6)
    # the centre is subtracted before sharpening: centring a one-hot row on itself flattens it
    row = 100 * torch.eye(64)[:1]
    assert teacher_entropy(row, row, 0.04).item() == pytest.approx(math.log(64))
    tokens = torch.randn(2, 3, 64)  # [N, P, K] token logits: the mean over every row
    assert teacher_entropy(tokens, center, 0.1) == pytest.approx(
        teacher_entropy(tokens.reshape(6, 64), center, 0.1).item()
    )


def test_collapse_metrics_come_from_the_teachers_outputs(make_dino, digits_bundle, samples):
    task = make_dino(teacher_temperature=0.07, teacher_temperature_warmup=0.2)
    views = views_of(task, digits_bundle, samples, 8)
    task(views)
    task.on_train_step_end(0.1)  # half-way through the warm-up; the centre moves off zero
    out = task(views)
    with torch.no_grad():
        teacher = task.teacher(torch.cat(views[:2]))
    entropy = out.metrics["teacher_entropy"]
    assert isinstance(entropy, torch.Tensor) and entropy.dim() == 0 and not entropy.requires_grad
    assert torch.isfinite(entropy) and 0 <= entropy.item() <= math.log(64)
    expected = torch.special.entr(torch.softmax((teacher - task.center) / 0.055, dim=-1)).sum(-1).mean()
    assert entropy.item() == pytest.approx(expected.item(), rel=1e-5)
    assert out.metrics["teacher_temperature"] == pytest.approx(0.055)


def test_head_batch_norm_normalises_each_hidden_layer_over_every_token(make_dino, digits_bundle, samples):
    """``head_batch_norm``: a BatchNorm before each hidden GELU (the reference's use_bn), whose
    statistics pool features ``[N, D]`` and tokens ``[N, P, D]`` alike; off by default."""
    assert not any(isinstance(m, nn.BatchNorm1d) for m in make_dino().head.modules())
    task = make_dino(head_batch_norm=True)
    norms = [m for m in task.head.mlp if isinstance(m, TokenBatchNorm)]
    assert len(norms) == 2 and all(n.num_features == SMALL["hidden_dim"] for n in norms)
    assert [type(m) for m in task.head.mlp[1:3]] == [TokenBatchNorm, nn.GELU]
    hidden = task.head.mlp[0](torch.randn(4, 5, 32))  # [N, P, D] tokens, as iBOT's patch head
    flat = nn.BatchNorm1d(SMALL["hidden_dim"]).train()
    torch.testing.assert_close(norms[0](hidden), flat(hidden.reshape(20, -1)).reshape(hidden.shape))
    views = views_of(task, digits_bundle, samples)
    task(views).loss.backward()
    assert norms[0].weight.grad is not None and norms[0].weight.grad.abs().sum() > 0


def test_last_layer_is_frozen_for_the_first_steps(make_dino, digits_bundle, samples):
    task = make_dino(freeze_last_layer=1)
    views = views_of(task, digits_bundle, samples)
    last = task.head.last_layer
    assert not last.weight_g.requires_grad  # norm_last_layer: the gain stays 1
    task(views).loss.backward()
    assert last.weight_v.grad is None and task.head.mlp[0].weight.grad is not None
    task.on_train_step_end(0.1)
    task.zero_grad()
    task(views).loss.backward()
    assert last.weight_v.grad is not None and last.weight_v.grad.abs().sum() > 0


def test_a_few_steps_lower_the_students_loss_against_a_fixed_teacher(make_dino, digits_bundle, samples):
    """The student's objective, teacher and centre held (momentum 1): its gradient path. (With
    both moving the loss is not monotone: the centre catches up with the teacher's mean.)"""
    task = make_dino(base_momentum=1.0, center_momentum=1.0)
    views = views_of(task, digits_bundle, samples, 32)
    losses = train_steps(
        lambda step: task(views),
        task,
        steps=20,
        lr=1e-3,
        after_step=lambda step: task.on_train_step_end(step / 20),
    )
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.1


def test_state_dict_round_trip_keeps_the_centre_progress_and_teacher(make_dino, digits_bundle, samples):
    task = make_dino(freeze_last_layer=3, teacher_temperature=0.07, teacher_temperature_warmup=0.5)
    views = views_of(task, digits_bundle, samples, 8)
    for step in range(2):
        task(views)
        task.on_train_step_end(0.1 * (step + 1))
    buffer = io.BytesIO()
    torch.save(task.state_dict(), buffer)
    buffer.seek(0)
    fresh = make_dino(seed=1, freeze_last_layer=3, teacher_temperature=0.07, teacher_temperature_warmup=0.5)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(fresh.center, task.center) and fresh.center.abs().sum() > 0
    assert fresh._steps_done == 2 and fresh._progress == pytest.approx(0.2)
    assert fresh.teacher_temperature_at() == pytest.approx(task.teacher_temperature_at())
    assert fresh.last_layer_frozen  # step 2 of 3
    for (name, a), b in zip(task.teacher.state_dict().items(), fresh.teacher.state_dict().values()):
        assert torch.equal(a, b), name


def test_trains_in_the_trainer_on_the_device_path(make_dino, digits_bundle, samples, fit):
    task = make_dino(augment_on="device")
    fit(task, samples(digits_bundle), warmup=0.0)
    assert task._steps_done == 2 and task._progress == 1.0 and task.center.abs().sum() > 0
