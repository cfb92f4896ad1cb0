"""The batched (device) path draws views from the same distribution as the per-image CPU
path (torchvision.transforms.v2).

Two levels: the parameters (crop boxes, jitter factors and order, probabilities) against
draws of torchvision's own ``make_params``; and whole views of designed images through both
pipelines, compared by statistics that read the parameters back (crop extent, position and
flip from a coordinate image; brightness and contrast from a two-level image; saturation,
hue and grayscale from colour quadrants; blur from a checkerboard).

Continuous statistics: two-sample Kolmogorov-Smirnov, ``D < c(a) sqrt((n + m) / (n m))``
with ``a = 1e-4`` (``c = sqrt(-ln(a / 2) / 2) = 2.23``). Rates: ``|p1 - p2| < 4 sigma`` of
their difference. Seeds are fixed, so every outcome is deterministic; the levels keep a
change of PyTorch's random streams from turning a pass into a failure by chance (about
1e-4 per statistic).

Whole views are compared on float images in [0, 1], which both pipelines take (the CPU one
is the tasks' own ``ViewAugmentation``): that compares the distributions without the uint8
arithmetic of the CPU path. Their statistics have atoms (e.g. the 20% of views without
jitter), where float rounding alone would make plain KS jump, so they use the
shift-tolerant distance ``D_eps = sup_t max(F1(t - eps) - F2(t), F2(t - eps) - F1(t))``
(``D_eps <= D``, same threshold) with ``eps = 1e-4`` (:data:`FLOAT_EPS`). On uint8 images
(what the tasks feed) the CPU path rounds the resize and truncates after each jitter step;
those tests use ``eps = 2/255`` (:data:`UINT8_EPS`). Negative controls show the tests
reject torchvision applied to a stacked batch (one draw for all images), a crop scale off
by 2x and a jitter strength off by 25%.
"""

from __future__ import annotations

import colorsys
import itertools
import math

import pytest
import torch
from scipy.stats import chi2_contingency, ks_2samp
from torch import Tensor
from torchvision.transforms import v2

from sslcore_vision.batched import BatchedViewAugmentation
from sslcore_vision.batched.params import sample_boxes, sample_factors, sample_params
from sslcore_vision.transforms import byol_augmentations, multi_crop_augmentations, view_augmentation
from sslcore_vision.view_distribution import ViewAugmentation, ViewDistribution

ALPHA = 1e-4
N_PARAMS = 4000  # parameter draws per path
N_VIEWS = 1500  # whole views per path
#: float rounding of a statistic of a view in [0, 1]
FLOAT_EPS = 1e-4
#: how far the uint8 CPU path's rounding moves a statistic of a view in [0, 1]
UINT8_EPS = 2 / 255


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny per-image operations: threads only contend (and xdist runs two workers)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def ks_threshold(n: int, m: int) -> float:
    return math.sqrt(-math.log(ALPHA / 2) / 2) * math.sqrt((n + m) / (n * m))


def shifted_ks(a: Tensor, b: Tensor, eps: float) -> float:
    """``sup_t max(F_a(t - eps) - F_b(t), F_b(t - eps) - F_a(t))`` (0 when ``eps`` covers
    every difference; the plain KS statistic when ``eps = 0``)."""
    a, b = a.double().sort().values, b.double().sort().values
    points = torch.cat([a, b, a + eps, b + eps])

    def cdf(sample: Tensor, t: Tensor) -> Tensor:
        return torch.searchsorted(sample, t, right=True).double() / len(sample)

    return max(
        0.0,
        (cdf(a, points - eps) - cdf(b, points)).max().item(),
        (cdf(b, points - eps) - cdf(a, points)).max().item(),
    )


def assert_same_distribution(cpu: Tensor, device: Tensor, what: str, eps: float = 0.0) -> float:
    """KS (``eps = 0``) or shift-tolerant KS of two 1-D samples below the threshold; returns D."""
    d = (
        shifted_ks(cpu, device, eps)
        if eps
        else ks_2samp(cpu.double().numpy(), device.double().numpy()).statistic
    )
    assert d < ks_threshold(len(cpu), len(device)), f"{what}: D = {d:.4f} (eps {eps:.4f})"
    return d


def assert_same_rate(cpu: Tensor, device: Tensor, what: str) -> None:
    p1, p2 = cpu.float().mean().item(), device.float().mean().item()
    pooled = (p1 * len(cpu) + p2 * len(device)) / (len(cpu) + len(device))
    sigma = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / len(cpu) + 1 / len(device)))
    assert abs(p1 - p2) < 4 * sigma, f"{what}: CPU rate {p1:.4f}, device rate {p2:.4f} (sigma {sigma:.4f})"


def unit(image: Tensor) -> Tensor:
    """uint8 -> float in [0, 1] (both pipelines take either)."""
    return image.float() / 255


def cpu_views(augmentation: ViewAugmentation, image: Tensor, n: int) -> Tensor:
    """``n`` views of one image (uint8, or float in [0, 1]) by the per-image CPU path, ``[n, C, S, S]``."""
    return torch.stack([augmentation(image) for _ in range(n)])


def device_views(augmentation: ViewAugmentation, image: Tensor, n: int) -> Tensor:
    """``n`` views of one image (uint8, or float in [0, 1]) by the batched path, ``[n, C, S, S]``."""
    return BatchedViewAugmentation(augmentation.distribution)(image[None], views=n)


# -- parameters ----------------------------------------------------------------------------


def box_statistics(boxes: Tensor, height: int, width: int) -> dict[str, Tensor]:
    top, left, h, w = boxes.double().unbind(dim=1)
    return {
        "area fraction": h * w / (height * width),
        "log aspect ratio": (w / h).log(),
        "centre x": (left + w / 2) / width,
        "centre y": (top + h / 2) / height,
    }


@pytest.mark.parametrize(("height", "width", "scale"), [(32, 32, (0.08, 1.0)), (20, 36, (0.5, 1.0))])
def test_crop_boxes_follow_random_resized_crop(height, width, scale):
    """The second case is wider than the largest ratio, so torchvision's central-crop
    fallback after 10 failed tries is common; both paths must agree there too."""
    torch.manual_seed(0)
    crop = v2.RandomResizedCrop(8, scale=scale)
    image = [torch.empty(1, height, width)]
    drawn = [crop.make_params(image) for _ in range(N_PARAMS)]
    cpu = torch.tensor([[p["top"], p["left"], p["height"], p["width"]] for p in drawn])
    device = sample_boxes(N_PARAMS, height, width, scale, crop.ratio, torch.device("cpu"))
    cpu_stats, device_stats = box_statistics(cpu, height, width), box_statistics(device, height, width)
    for name in cpu_stats:
        assert_same_distribution(cpu_stats[name], device_stats[name], name)
    wrong = sample_boxes(N_PARAMS, height, width, (scale[0] * 2, 1.0), crop.ratio, torch.device("cpu"))
    wrong_area = box_statistics(wrong, height, width)["area fraction"]
    assert ks_2samp(cpu_stats["area fraction"], wrong_area).statistic > ks_threshold(N_PARAMS, N_PARAMS)


@pytest.mark.parametrize("channels", [1, 3])
def test_jitter_factors_and_order_follow_colour_jitter(channels):
    torch.manual_seed(0)
    dist = ViewDistribution(8, channels, (0.5,) * channels, (0.5,) * channels, jitter=(0.4, 0.4, 0.4, 0.1))
    jitter = dist.colour_jitter()
    drawn = [jitter.make_params([]) for _ in range(N_PARAMS)]
    applied, factors, order = sample_factors(dist, N_PARAMS, torch.device("cpu"))
    names = ["brightness_factor", "contrast_factor", "saturation_factor", "hue_factor"]
    for k, name in enumerate(names):
        if drawn[0][name] is None:  # grey images: no saturation or hue
            assert (factors[:, k] == (0.0 if name == "hue_factor" else 1.0)).all()
        else:
            cpu = torch.tensor([p[name] for p in drawn])
            assert_same_distribution(cpu, factors[applied, k], name)
    cpu_orders = torch.stack([p["fn_idx"] for p in drawn])
    counts = [permutation_counts(cpu_orders), permutation_counts(order[applied])]
    assert chi2_contingency(counts).pvalue > ALPHA


def permutation_counts(orders: Tensor) -> list[int]:
    """How often each of the 24 orders of four operations occurs in ``orders [n, 4]``."""
    return [int((orders == torch.tensor(p)).all(dim=1).sum()) for p in itertools.permutations(range(4))]


def test_probabilities_and_blur_sigma_follow_the_distribution():
    torch.manual_seed(0)
    dist = ViewDistribution(16, 3, (0.5,) * 3, (0.5,) * 3, blur_p=0.5, solarize_p=0.2)
    params = sample_params(dist, N_PARAMS, 20, 20, torch.device("cpu"))
    for name, p in [("flip", 0.5), ("jitter", 0.8), ("grayscale", 0.2), ("blur", 0.5), ("solarize", 0.2)]:
        rate = getattr(params, name).float().mean().item()
        assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / N_PARAMS), f"{name}: rate {rate:.4f}, p = {p}"
    blur = v2.GaussianBlur(dist.blur_kernel, dist.blur_sigma)
    cpu_sigma = torch.tensor([blur.make_params([])["sigma"][0] for _ in range(N_PARAMS)])
    assert_same_distribution(cpu_sigma, params.sigma, "blur sigma")


# -- whole views -----------------------------------------------------------------------------


def coordinate_image(size: int = 32) -> Tensor:
    """Channel 0 the column, channel 1 the row (0 -> 0, size - 1 -> 255), channel 2 zero."""
    ramp = torch.linspace(0, 255, size).round()
    return torch.stack(
        [ramp.expand(size, size), ramp[:, None].expand(size, size), torch.zeros(size, size)]
    ).to(torch.uint8)


def geometry_statistics(views: Tensor) -> dict[str, Tensor]:
    """Signed horizontal extent (negative when flipped), vertical extent and centre of the
    crop, read from views of :func:`coordinate_image` (values in [0, 1])."""
    x, y = views[:, 0], views[:, 1]
    return {
        "x extent (signed)": x[:, :, -1].mean(dim=1) - x[:, :, 0].mean(dim=1),
        "y extent": y[:, -1].mean(dim=1) - y[:, 0].mean(dim=1),
        "centre x": x.mean(dim=(1, 2)),
        "centre y": y.mean(dim=(1, 2)),
    }


def test_views_have_the_same_crops_and_flips():
    torch.manual_seed(0)
    augmentation = view_augmentation(16, 3, [0.0] * 3, [1.0] * 3, jitter=(0, 0, 0, 0), grayscale_p=0)
    image = unit(coordinate_image())
    cpu = geometry_statistics(cpu_views(augmentation, image, N_VIEWS))
    device = geometry_statistics(device_views(augmentation, image, N_VIEWS))
    for name in cpu:
        assert_same_distribution(cpu[name], device[name], name, FLOAT_EPS)
    flipped = cpu["x extent (signed)"] < 0, device["x extent (signed)"] < 0
    assert_same_rate(*flipped, "flip")
    assert abs(flipped[1].float().mean() - 0.5) < 4 * math.sqrt(0.25 / N_VIEWS)
    # negative control: torchvision on the stacked batch draws one crop and flip for all
    shared = geometry_statistics(augmentation(image[None].expand(N_VIEWS, -1, -1, -1)))
    assert shifted_ks(cpu["centre x"], shared["centre x"], FLOAT_EPS) > ks_threshold(N_VIEWS, N_VIEWS)


def two_level_image() -> Tensor:
    """Grey, left half 64, right half 192."""
    image = torch.full((1, 16, 16), 64, dtype=torch.uint8)
    image[:, :, 8:] = 192
    return image


@pytest.mark.parametrize("dtype", ["float", "uint8"])
def test_views_have_the_same_brightness_and_contrast(dtype):
    """Grey two-level image, crop of the whole image: the view's mean follows the
    brightness factor, its standard deviation brightness x contrast. On uint8 images (as
    the tasks feed them) the CPU path's rounding is allowed for (``eps = 2/255``)."""
    torch.manual_seed(0)
    augmentation = view_augmentation(16, 1, [0.0], [1.0], scale=(1.0, 1.0), jitter=(0.4, 0.4, 0.0, 0.0))
    image, eps = (unit(two_level_image()), FLOAT_EPS) if dtype == "float" else (two_level_image(), UINT8_EPS)
    cpu, device = cpu_views(augmentation, image, N_VIEWS), device_views(augmentation, image, N_VIEWS)
    assert_same_distribution(cpu.mean(dim=(1, 2, 3)), device.mean(dim=(1, 2, 3)), "mean (brightness)", eps)
    assert_same_distribution(cpu.std(dim=(1, 2, 3)), device.std(dim=(1, 2, 3)), "std (contrast)", eps)
    # negative control: jitter strength 0.3 instead of 0.4
    weaker = view_augmentation(16, 1, [0.0], [1.0], scale=(1.0, 1.0), jitter=(0.3, 0.3, 0.0, 0.0))
    wrong = device_views(weaker, image, N_VIEWS).mean(dim=(1, 2, 3))
    assert shifted_ks(cpu.mean(dim=(1, 2, 3)), wrong, eps) > ks_threshold(N_VIEWS, N_VIEWS)


def colour_quadrants(size: int = 16) -> Tensor:
    """Four saturated mid-range colours, one per quadrant, ``[3, size, size]`` in [0, 1]."""
    colours = torch.tensor([[200, 60, 60], [60, 170, 60], [60, 80, 200], [180, 160, 40]]) / 255
    image = torch.empty(3, size, size)
    half = size // 2
    for k, (rows, cols) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        image[:, rows * half : (rows + 1) * half, cols * half : (cols + 1) * half] = colours[k][:, None, None]
    return image


def colour_statistics(views: Tensor) -> dict[str, Tensor]:
    """Mean luma, luma spread, mean chroma (max - min over channels) and the hue of the
    top-left quadrant's mean colour, for views in [0, 1] of :func:`colour_quadrants`."""
    luma = (views * torch.tensor([0.2989, 0.587, 0.114])[:, None, None]).sum(dim=1)
    corner = views[:, :, 2:6, 2:6].mean(dim=(2, 3)).clamp(0, 1)
    hues = [colorsys.rgb_to_hsv(*rgb)[0] for rgb in corner.tolist()]
    return {
        "luma mean": luma.mean(dim=(1, 2)),
        "luma std": luma.std(dim=(1, 2)),
        "chroma": (views.amax(dim=1) - views.amin(dim=1)).mean(dim=(1, 2)),
        "hue": (torch.tensor(hues) + 0.5).remainder(1.0),  # red (0) mid-range: no wrap-around
    }


def test_views_have_the_same_colour_jitter_and_grayscale():
    """SimCLR's colour distortion (strength 0.5: factors 0.4, 0.4, 0.4, 0.1 with p=0.8, per-image
    random order) and grayscale p=0.2, the whole image in view (flip changes nothing here)."""
    torch.manual_seed(0)
    augmentation = view_augmentation(
        16, 3, [0.0] * 3, [1.0] * 3, scale=(1.0, 1.0), jitter=(0.4, 0.4, 0.4, 0.1)
    )
    image = colour_quadrants()
    cpu = colour_statistics(cpu_views(augmentation, image, N_VIEWS))
    device = colour_statistics(device_views(augmentation, image, N_VIEWS))
    grey = cpu["chroma"] < 1e-3, device["chroma"] < 1e-3  # saturation x0.6 at least: grey only by grayscale
    assert_same_rate(*grey, "grayscale")
    for name in cpu:
        coloured = (~grey[0], ~grey[1]) if name == "hue" else (slice(None), slice(None))
        assert_same_distribution(cpu[name][coloured[0]], device[name][coloured[1]], name, FLOAT_EPS)


def test_views_have_the_same_blur():
    """Checkerboard, whole image, blur p=0.5, sigma in [0.1, 2]: the mean absolute difference
    of neighbouring pixels falls with sigma."""
    torch.manual_seed(0)
    augmentation = view_augmentation(16, 1, [0.0], [1.0], scale=(1.0, 1.0), jitter=(0, 0, 0, 0), blur_p=0.5)
    image = ((torch.arange(16)[:, None] + torch.arange(16)) % 2).float()[None]

    def sharpness(views: Tensor) -> Tensor:
        return (views[..., 1:] - views[..., :-1]).abs().mean(dim=(1, 2, 3))

    cpu = sharpness(cpu_views(augmentation, image, N_VIEWS))
    device = sharpness(device_views(augmentation, image, N_VIEWS))
    assert_same_distribution(cpu, device, "sharpness", FLOAT_EPS)
    assert_same_rate(cpu < 0.9 * cpu.max(), device < 0.9 * device.max(), "visibly blurred")


@pytest.mark.parametrize("which", ["byol view 1", "byol view 2", "swav local"])
def test_registered_view_distributions_agree(which):
    """BYOL's pair (blur p=1 / 0.1, solarize p=0 / 0.2) and SwAV's local crops, whole
    pipeline with default crops, on the colour quadrants (uint8: torchvision's solarize
    threshold 128 is a uint8 level)."""
    torch.manual_seed(0)
    first, second = byol_augmentations(16, 3, [0.0] * 3, [1.0] * 3)
    _, local = multi_crop_augmentations(16, 3, [0.0] * 3, [1.0] * 3, blur=0.5)
    augmentation = {"byol view 1": first, "byol view 2": second, "swav local": local}[which]
    image = (colour_quadrants() * 255).round().to(torch.uint8)
    cpu = colour_statistics(cpu_views(augmentation, image, N_VIEWS))
    device = colour_statistics(device_views(augmentation, image, N_VIEWS))
    for name in ("luma mean", "luma std", "chroma"):
        assert_same_distribution(cpu[name], device[name], f"{which}: {name}", UINT8_EPS)
