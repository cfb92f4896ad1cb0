from __future__ import annotations

import pytest
import torch

from sslcore import ConfigError
from sslcore_vision.batched import BatchedViews
from sslcore_vision.transforms import (
    LabelledImageCollate,
    MultiCropCollate,
    TwoViewCollate,
    dino_augmentations,
    multi_crop_augmentations,
    simclr_augmentation,
    simclr_colour,
    to_normalised_float,
    view_augmentation,
)


def test_normalisation_maps_the_uint8_range_with_mean_and_std():
    out = to_normalised_float([0.5], [0.5])(torch.tensor([[[0, 255]]], dtype=torch.uint8))
    assert torch.allclose(out, torch.tensor([[[-1.0, 1.0]]]))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("blur", [False, True])
def test_augmentation_keeps_shape_and_returns_normalised_float(channels, blur):
    torch.manual_seed(0)
    augment = simclr_augmentation(32, channels, [0.5] * channels, [0.25] * channels, blur=blur)
    image = torch.randint(0, 256, (channels, 40, 40), dtype=torch.uint8)
    views = [augment(image) for _ in range(4)]
    assert all(v.shape == (channels, 32, 32) and v.dtype == torch.float32 for v in views)
    assert all(v.min() >= -2 - 1e-5 and v.max() <= 2 + 1e-5 for v in views)  # (x - 0.5) / 0.25, x in [0, 1]
    assert not torch.allclose(views[0], views[1])


def test_grey_images_get_no_colour_only_jitter():
    steps = [type(t).__name__ for t in simclr_augmentation(28, 1, [0.5], [0.5]).transforms]
    assert "RandomGrayscale" not in steps
    jitter = simclr_augmentation(28, 1, [0.5], [0.5]).transforms[2].transforms[0]
    assert jitter.saturation is None and jitter.hue is None


@pytest.mark.parametrize("channels", [1, 3])
def test_simclr_augmentation_is_a_view_augmentation_with_simclr_colour(channels):
    mean, std = [0.5] * channels, [0.25] * channels
    simclr = simclr_augmentation(32, channels, mean, std, crop_min_scale=0.2, jitter=0.7, blur=True)
    view = view_augmentation(32, channels, mean, std, (0.2, 1.0), simclr_colour(0.7), blur_p=0.5)
    assert repr(simclr) == repr(view)
    assert simclr_colour(0.5) == pytest.approx((0.4, 0.4, 0.4, 0.1)) and simclr_colour(5)[3] == 0.5
    no_jitter = [type(t).__name__ for t in simclr_augmentation(32, channels, mean, std, jitter=0).transforms]
    assert no_jitter[:3] == [
        "RandomResizedCrop",
        "RandomHorizontalFlip",
        "RandomGrayscale" if channels == 3 else "Compose",
    ]


def test_collates_stack_samples():
    images = [torch.full((1, 8, 8), i, dtype=torch.uint8) for i in range(5)]
    view1, view2 = TwoViewCollate(to_normalised_float([0.0], [1.0]))(images)
    assert view1.shape == view2.shape == (5, 1, 8, 8)
    batch, labels = LabelledImageCollate([0.0], [1.0])([(img, i % 2) for i, img in enumerate(images)])
    assert torch.equal(labels, torch.tensor([0, 1, 0, 1, 0]))
    assert torch.allclose(batch[:, 0, 0, 0], torch.arange(5) / 255)


@pytest.mark.parametrize(("num_global", "num_local"), [(2, 0), (2, 3), (1, 2), (4, 1)])
def test_multi_crop_collate_draws_global_then_local_views(num_global, num_local):
    mean, std = [0.5], [0.5]
    (first, second), local = dino_augmentations(16, 1, mean, std, local_size=0.5)
    collate = MultiCropCollate((first, second), local, num_local, num_global)
    images = [torch.randint(0, 256, (1, 16, 16), dtype=torch.uint8) for _ in range(3)]
    views = collate(images)
    assert [tuple(v.shape) for v in views] == [(3, 1, 16, 16)] * num_global + [(3, 1, 8, 8)] * num_local
    # global crop i is drawn by global_augmentation[i % 2]: DINO's asymmetric pair, repeated
    assert (
        collate.augmentations
        == tuple([first, second][i % 2] for i in range(num_global)) + (local,) * num_local
    )
    assert (collate.num_global, collate.num_local) == (num_global, num_local)
    batched = BatchedViews([a.distribution for a in collate.augmentations])  # the device path
    assert [tuple(v.shape) for v in batched(torch.stack(images))] == [tuple(v.shape) for v in views]


def test_multi_crop_collate_keeps_swavs_two_global_crops_by_default():
    global_view, local_view = multi_crop_augmentations(16, 1, [0.5], [0.5])
    collate = MultiCropCollate(global_view, local_view, 3)
    assert collate.augmentations == (global_view,) * 2 + (local_view,) * 3


def test_multi_crop_needs_a_global_crop():
    global_view, local_view = multi_crop_augmentations(16, 1, [0.5], [0.5])
    with pytest.raises(ConfigError, match="multi-crop needs at least one global crop.*num_global=2"):
        MultiCropCollate(global_view, local_view, num_local=4, num_global=0)
    with pytest.raises(ConfigError, match="empty sequence"):
        MultiCropCollate([], local_view, num_local=4)
    with pytest.raises(ValueError, match="num_local must be >= 0"):
        MultiCropCollate(global_view, local_view, num_local=-1)


def test_dino_augmentations_are_the_papers_crops_blur_and_solarize():
    (first, second), local = dino_augmentations(224, 3, [0.5] * 3, [0.25] * 3)
    d1, d2, dl = first.distribution, second.distribution, local.distribution
    assert (d1.size, d2.size, dl.size) == (224, 224, 96)  # 96 / 224 = 0.43
    assert d1.scale == d2.scale == (0.4, 1.0) and dl.scale == (0.05, 0.4)
    assert (d1.blur_p, d2.blur_p, dl.blur_p) == (1.0, 0.1, 0.5)
    assert (d1.solarize_p, d2.solarize_p, dl.solarize_p) == (0.0, 0.2, 0.0)
    assert d1.jitter == (0.4, 0.4, 0.2, 0.1) and d1.jitter_p == 0.8 and d1.grayscale_p == 0.2
