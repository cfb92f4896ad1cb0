"""The batched (device) view path: given the same parameters it computes what torchvision's
per-image functions compute; shapes, dtypes and normalisation; every tensor it creates
lives on the batch's device."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from sslcore_vision.batched import BatchedViewAugmentation, BatchedViews, ViewParams
from sslcore_vision.batched.colour import shift_hue
from sslcore_vision.transforms import byol_augmentations, multi_crop_augmentations, view_augmentation
from sslcore_vision.view_distribution import ViewDistribution

JITTER_STEPS = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)


def torchvision_view(image: torch.Tensor, params: ViewParams, i: int, dist: ViewDistribution) -> torch.Tensor:
    """View ``i`` of ``image`` ([C, H, W] uint8) by torchvision's per-image functions in float."""
    x = image.float() / 255
    top, left, h, w = (int(v) for v in params.boxes[i])
    x = TF.resized_crop(x, top, left, h, w, [dist.size, dist.size], antialias=True)
    if params.flip[i]:
        x = TF.horizontal_flip(x)
    for op in params.order[i].tolist() if params.jitter[i] else []:  # as RandomApply([ColorJitter])
        x = JITTER_STEPS[op](x, float(params.factors[i, op]))
    if params.grayscale[i]:
        x = TF.rgb_to_grayscale(x, num_output_channels=3)
    if params.blur[i]:
        x = TF.gaussian_blur(x, [dist.blur_kernel] * 2, [float(params.sigma[i])] * 2)
    if params.solarize[i]:
        x = TF.solarize(x, dist.solarize_threshold / 255)
    return TF.normalize(x, list(dist.mean), list(dist.std))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("image_shape", [(24, 28), (12, 12)], ids=["down-and-up", "upscale"])
def test_same_parameters_give_torchvisions_views(channels, image_shape):
    """Crop + resize (down- and upscaling), flip, jitter in every order, grayscale, blur and
    solarize match torchvision's per-image functions on float images to rounding."""
    torch.manual_seed(0)
    dist = view_augmentation(
        20, channels, [0.4] * channels, [0.3] * channels, jitter_p=0.9, blur_p=0.5, solarize_p=0.5
    ).distribution
    batched = BatchedViewAugmentation(dist)
    images = torch.randint(0, 256, (32, channels, *image_shape), dtype=torch.uint8)
    images[images == 128] = 127  # a pixel exactly at the solarize threshold flips on float rounding
    params = batched.sample(64, *image_shape, images.device)  # two views per image
    views = batched.apply(images, params)
    assert views.shape == (64, channels, 20, 20) and views.dtype == torch.float32
    expected = torch.stack([torchvision_view(images[i % 32], params, i, dist) for i in range(64)])
    assert (views - expected).abs().max() < 1e-4
    assert params.flip.any() and params.blur.any() and params.solarize.any() and params.jitter.any()


def test_hue_rotation_matches_torchvision_for_every_shift():
    torch.manual_seed(1)
    images = torch.rand(16, 3, 6, 6)
    images[0] = 0.5  # grey: no hue
    images[1, :, 0, 0] = torch.tensor([1.0, 1.0, 0.0])  # ties between channel maxima
    shifts = torch.linspace(-0.5, 0.5, 16)
    expected = torch.stack([TF.adjust_hue(x, float(s)) for x, s in zip(images, shifts, strict=True)])
    assert (shift_hue(images, shifts) - expected).abs().max() < 1e-5


@pytest.mark.parametrize("channels", [1, 3])
def test_views_are_normalised_float_of_the_view_size(channels):
    mean, std = [0.5] * channels, [0.25] * channels
    global_view, local_view = multi_crop_augmentations(30, channels, mean, std, blur=0.5)
    views = BatchedViews([global_view.distribution] * 2 + [local_view.distribution] * 3)
    images = torch.randint(0, 256, (6, channels, 30, 30), dtype=torch.uint8)
    out = views(images)
    assert [tuple(v.shape) for v in out] == [(6, channels, 30, 30)] * 2 + [(6, channels, 13, 13)] * 3
    assert all(v.dtype == torch.float32 for v in out)
    assert all(v.min() >= -2 - 1e-5 and v.max() <= 2 + 1e-5 for v in out)  # (x - 0.5) / 0.25, x in [0, 1]
    assert not torch.allclose(out[0], out[1])  # views of one distribution are drawn independently
    white = torch.full((2, channels, 30, 30), 255, dtype=torch.uint8)
    plain = BatchedViewAugmentation(
        ViewDistribution(8, channels, tuple(mean), tuple(std), jitter=(0, 0, 0, 0), grayscale_p=0)
    )
    assert torch.allclose(plain(white), torch.full((2, channels, 8, 8), 2.0))


def test_views_take_float_images_in_the_unit_range():
    dist = ViewDistribution(
        8, 1, (0.0,), (1.0,), scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0, jitter=(0, 0, 0, 0)
    )
    images = torch.rand(3, 1, 8, 8)
    assert torch.allclose(BatchedViewAugmentation(dist)(images), images, atol=1e-6)
    assert torch.equal(BatchedViewAugmentation(dist)((images * 255).to(torch.uint8)).mul(255).round(),
                       (images * 255).to(torch.uint8).float())  # fmt: skip


@pytest.mark.parametrize("channels", [1, 3])
def test_every_tensor_is_created_on_the_batchs_device(channels):
    """Run the device path on a CPU batch with ``meta`` as the default device: a tensor
    made without ``device=`` (torch.tensor, arange, rand, empty...) lands on ``meta``, and
    the first operation mixing it with the batch's CPU tensors raises ("Tensor on device meta
    is not on the expected device cpu"), 0-dim tensors included. So a finite CPU result means
    every tensor that reached it was created on the batch's device (on a GPU: beside the
    CUDA batch, not on the CPU)."""
    first, second = byol_augmentations(12, channels, [0.5] * channels, [0.5] * channels)
    views = BatchedViews([first.distribution, second.distribution, view_augmentation(
        7, channels, [0.5] * channels, [0.5] * channels, blur_p=0.5, solarize_p=0.5).distribution])  # fmt: skip
    images = torch.randint(0, 256, (8, channels, 16, 16), dtype=torch.uint8, device="cpu")
    with torch.device("meta"):
        assert torch.empty(1).device.type == "meta"  # the trick is on
        out = views(images)
    assert all(v.device.type == "cpu" and torch.isfinite(v).all() for v in out)
