from __future__ import annotations

import pytest
import torch

from sslcore_vision.transforms import (
    LabelledImageCollate,
    TwoViewCollate,
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
