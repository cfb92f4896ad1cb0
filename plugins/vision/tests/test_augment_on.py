"""``augment_on``: the view tasks draw their views per image in ``collate`` (CPU) or from the
whole batch after the transfer to the device; the option goes through ``build_task``."""

from __future__ import annotations

import pickle

import pytest
import torch

from sslcore import ConfigError
from sslcore.build import build_task
from sslcore.engine.trainer import CountingCollate
from sslcore.testing import ConformanceSuite
from sslcore.testing.steps import train_steps
from sslcore_vision.batched import StackedImages
from sslcore_vision.tasks.simclr import SimCLR

VIEW_TASKS = ["simclr", "moco_v2", "byol", "simsiam", "swav", "barlow_twins"]


@pytest.mark.parametrize("name", VIEW_TASKS)
def test_device_views_after_the_transfer_and_auto_on_the_cpu(make_view_task, digits_bundle, name, samples):
    task, cpu = make_view_task(name, augment_on="device"), make_view_task(name, augment_on="cpu")
    stacked = task.collate(samples(digits_bundle, 16))
    assert isinstance(stacked, StackedImages) and stacked.images.dtype == torch.uint8
    assert stacked.images.shape == (16, 1, 16, 16) and stacked.images.device.type == "cpu"
    views = task.on_after_batch_transfer(stacked)
    cpu_views = cpu.collate(samples(digits_bundle, 16))
    assert [v.shape for v in views] == [v.shape for v in cpu_views]
    assert all(v.dtype == torch.float32 for v in views)
    assert task.on_after_batch_transfer(views) is views  # views pass through
    assert torch.isfinite(task(views).loss) and torch.isfinite(task(stacked).loss)  # forward takes both
    auto = make_view_task(name)  # auto: the CPU path while the task is on the CPU
    assert auto.augment_on == "auto" and not auto.augments_on_device
    torch.manual_seed(1)
    first = auto.collate(samples(digits_bundle, 16))
    torch.manual_seed(1)
    second = cpu.collate(samples(digits_bundle, 16))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_auto_follows_the_parameters_device(make_view_task, digits_bundle, samples):
    """``.to()`` records (as a plain bool collate may read) whether the parameters are on
    CUDA; on this CPU-only machine the flag is set by hand to stand for a CUDA move."""
    task = make_view_task("simclr")
    task._on_cuda = True
    assert task.augments_on_device and isinstance(task.collate(samples(digits_bundle, 16)), StackedImages)
    task.to("cpu")
    assert not task._on_cuda and not task.augments_on_device
    cpu_only = make_view_task("simclr", augment_on="cpu")
    cpu_only._on_cuda = True
    assert not cpu_only.augments_on_device


def test_bad_values_and_custom_augmentations(make_view_task, digits_bundle):
    with pytest.raises(
        ConfigError, match=r"option augment_on='gpu': must be one of 'auto', 'cpu', 'device' \(e\.g\."
    ):
        make_view_task("simclr", augment_on="gpu")  # build_task checks the Literal first
    encoder = make_view_task("simclr").encoder
    with pytest.raises(ConfigError, match="augment_on must be one of auto, cpu, device"):
        SimCLR(encoder, lambda x: x.float(), augment_on="gpu")  # the class itself, built directly
    with pytest.raises(ConfigError, match="needs ViewAugmentation views"):
        SimCLR(encoder, lambda x: x.float(), augment_on="device")
    custom = SimCLR(encoder, lambda x: x.float())
    custom._on_cuda = True
    assert custom.device_views is None and not custom.augments_on_device


def test_collate_pickles_for_dataloader_workers(make_view_task, digits_bundle, samples):
    task = make_view_task("swav", augment_on="device")
    collate = pickle.loads(pickle.dumps(CountingCollate(task.collate)))
    n, batch = collate(samples(digits_bundle, 4))
    assert n == 4 and isinstance(batch, StackedImages)


def test_device_path_lowers_the_loss(make_view_task, digits_bundle, samples):
    """SimCLR, new views of the same 32 images every step, drawn by the device path."""
    task = make_view_task("simclr", augment_on="device")
    stacked = task.collate(samples(digits_bundle))
    torch.manual_seed(0)
    losses = train_steps(lambda step: task(task.on_after_batch_transfer(stacked)), task, steps=20, lr=1e-3)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.1


@pytest.mark.parametrize("name", ["simclr", "byol", "swav"])
def test_trains_in_the_trainer_with_device_views(
    make_view_task, digits_bundle, name, monkeypatch, samples, fit
):
    task = make_view_task(name, augment_on="device")
    drawn = []
    original = task.device_views
    monkeypatch.setattr(task, "device_views", lambda images: drawn.append(len(images)) or original(images))
    fit(task, samples(digits_bundle), warmup=0.0)
    assert drawn == [16, 16]


def test_pirl_draws_views_and_tiles_after_the_transfer(registry, digits_bundle, samples, fit):
    torch.manual_seed(0)
    task = build_task("pirl", digits_bundle, task_options={"augment_on": "device"}, registry=registry)
    pairs = [(i, image) for i, image in enumerate(samples(digits_bundle, 16))]
    indices, stacked = task.collate(pairs)
    assert isinstance(stacked, StackedImages) and stacked.images.dtype == torch.uint8
    batch = task.on_after_batch_transfer((indices, stacked))
    cpu_batch = build_task(
        "pirl", digits_bundle, task_options={"augment_on": "cpu"}, registry=registry
    ).collate(pairs)
    assert [t.shape for t in batch] == [t.shape for t in cpu_batch] and torch.equal(batch[0], indices)
    assert task.on_after_batch_transfer(batch) is batch
    assert torch.isfinite(task(batch).loss) and torch.isfinite(task((indices, stacked)).loss)
    fit(task, samples(digits_bundle), warmup=0.0)


class TestDeviceViewsConformance(ConformanceSuite):
    """sslcore's conformance suite (device contract included) over the view tasks and PIRL
    with ``augment_on="device"``; everything else is covered by test_conformance.py."""

    plugin = "vision"
    task_options = {name: {"augment_on": "device"} for name in [*VIEW_TASKS, "pirl"]}


TestDeviceViewsConformance.skip = {
    short: "covered by test_conformance.py"
    for kind in ("task", "encoder", "dataset")
    for short in (name.split(":", 1)[1] for name in TestDeviceViewsConformance.names(kind))
    if short not in TestDeviceViewsConformance.task_options
}
