from __future__ import annotations

from functools import cache

import pytest
import torch
from torch import nn

from sslcore import ConfigError
from sslcore.build import build_encoder, build_task
from sslcore_vision.encoders import WrappedImageEncoder, wrap_module
from sslcore_vision.encoders.resnet import ResNet18Encoder, ResNetEncoder

# (name, options) for every registered vision encoder, with each stem variant
ENCODERS = [
    ("small_cnn", {}),
    ("small_cnn", {"width": 8, "output_dim": 40, "stem_stride": 1}),
    ("resnet18", {}),
    ("resnet18", {"small_images": True}),
    ("resnet50", {}),
    ("resnet50", {"small_images": True}),
    ("vit", {"depth": 1, "embed_dim": 32, "num_heads": 2}),
    ("vit_tiny", {}),
    ("vit_small", {"patch_size": 7}),
    ("timm", {"model": "resnet10t"}),
]
#: the ViTs' output is their [CLS] token, not the mean of their patch map (test_vit.py)
CLS_OUTPUT = ("vit", "vit_tiny", "vit_small")
#: the image size the encoders are built for (``info["image_size"]``; ViTs take other sizes too)
BUILT_SIZE = 28
# user modules given the contract by wrap_module: one returns feature maps, one vectors
WRAPPED = [("wrapped", {"output": "map"}), ("wrapped", {"output": "vector"})]
CASES = ENCODERS + WRAPPED
# (channels, size): fashion-mnist, digits (default and native 8x8), small colour images
IMAGES = [(1, 28), (1, 16), (1, 8), (3, 32)]


def user_module(channels: int, output: str) -> nn.Module:
    """A plain user CNN: ``[B, channels, H, W] -> [B, 24, h, w]`` or, pooled, ``[B, 24]``."""
    layers = [nn.Conv2d(channels, 12, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(12, 24, 3, padding=1)]
    if output == "vector":
        layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


@pytest.fixture(scope="module")
def encoder_for(registry):
    """Build each (name, options, channels) once per module: constructing a ResNet is the slow part."""

    @cache
    def build(name: str, options: tuple, channels: int):
        if name == "wrapped":
            return wrap_module(user_module(channels, dict(options)["output"]), output_dim=24)
        info = {"in_channels": channels, "image_size": BUILT_SIZE}
        return build_encoder(name, info, dict(options), registry)

    return lambda name, options, channels: build(name, tuple(sorted(options.items())), channels)


def test_the_cases_cover_every_registered_encoder(registry):
    assert {name for name, _ in ENCODERS} == {s.name for s in registry.specs("encoder", "vision").values()}


@pytest.mark.parametrize("name,options", CASES)
@pytest.mark.parametrize("channels,size", IMAGES)
def test_encoder_maps_images_to_output_dim_rows(encoder_for, name, options, channels, size):
    torch.manual_seed(0)
    encoder = encoder_for(name, options, channels)
    assert encoder.in_channels == channels
    images = torch.randn(2, channels, size, size)
    with torch.no_grad():
        out = encoder(images)
    assert out.shape == (2, encoder.output_dim)
    assert torch.isfinite(out).all()
    if "output_dim" in options:
        assert encoder.output_dim == options["output_dim"]


@pytest.mark.parametrize("name,options", CASES)
def test_gradients_reach_every_parameter(encoder_for, name, options):
    torch.manual_seed(0)
    encoder = encoder_for(name, options, 1)
    encoder.zero_grad(set_to_none=True)
    encoder(torch.randn(4, 1, 28, 28)).square().mean().backward()
    for pname, param in encoder.named_parameters():
        if pname == "mask_token":  # a ViT's: used only by tokens(mask=...)
            continue
        assert param.grad is not None and torch.isfinite(param.grad).all(), pname
    first = next(p for p in encoder.parameters() if p.dim() == 4)
    assert first.grad.abs().sum() > 0


def test_embedding_depends_on_the_image(registry):
    torch.manual_seed(0)
    encoder = build_encoder("small_cnn", {"in_channels": 1}, {}, registry).eval()
    a, b = encoder(torch.randn(2, 1, 28, 28)).unbind()
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("name,options", CASES)
def test_channel_mismatch_names_both_counts(encoder_for, name, options):
    encoder = encoder_for(name, options, 3)
    with pytest.raises(ConfigError, match=r"3-channel images .* 1 channel"):
        encoder(torch.randn(2, 1, 28, 28))


def test_missing_in_channels_is_named(registry):
    with pytest.raises(KeyError, match="in_channels"):
        build_encoder("small_cnn", {"image_size": 28}, {}, registry)


@pytest.mark.parametrize(
    "name,options", [c for c in CASES if c[1].get("output") != "vector" and c[0] not in CLS_OUTPUT]
)
def test_feature_map_pools_to_the_embedding(encoder_for, name, options):
    """``feature_map`` (used by local-global and dense tasks) is the map ``forward`` averages."""
    torch.manual_seed(0)
    encoder = encoder_for(name, options, 1).eval()
    images = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        fmap, pooled = encoder.feature_map(images), encoder(images)
    assert fmap.dim() == 4 and fmap.shape[:2] == (2, encoder.output_dim)
    torch.testing.assert_close(fmap.mean(dim=(2, 3)), pooled)
    if hasattr(encoder, "feature_maps"):  # the stages, shallow to deep, end at feature_map
        with torch.no_grad():
            maps = encoder.feature_maps(images)
        assert len(maps) >= 2 and all(m.dim() == 4 and len(m) == 2 for m in maps)
        sides = [m.shape[-1] for m in maps]
        assert sides == sorted(sides, reverse=True)
        torch.testing.assert_close(maps[-1], fmap)


def test_a_module_returning_vectors_has_no_feature_map(encoder_for):
    encoder = encoder_for("wrapped", {"output": "vector"}, 1)
    with pytest.raises(ConfigError, match=r"wrapped Sequential returns vectors \(2, 24\).*no feature_map"):
        encoder.feature_map(torch.randn(2, 1, 28, 28))


# ResNet variants share one class


def test_resnet_depths_share_one_class_and_keep_resnet18_state_dict_keys(encoder_for):
    r18, r50 = encoder_for("resnet18", {}, 3), encoder_for("resnet50", {}, 3)
    assert isinstance(r18, ResNet18Encoder) and type(r50) is ResNetEncoder
    assert (r18.output_dim, r50.output_dim) == (512, 2048)
    keys = set(r18.state_dict())
    assert {"net.conv1.weight", "net.bn1.running_mean", "net.layer4.1.bn2.weight"} <= keys
    assert not any(k.startswith("net.fc") for k in keys)
    assert "net.layer4.2.conv3.weight" in r50.state_dict()  # bottleneck blocks


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_small_image_stem_keeps_resolution(encoder_for, name):
    """3x3 stride-1 stem without max-pool: 32x32 -> 4x4 after layer4 (the default stem gives 1x1)."""
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        small = encoder_for(name, {"small_images": True}, 3).eval().feature_map(images)
        default = encoder_for(name, {}, 3).eval().feature_map(images)
    assert small.shape[-2:] == (4, 4) and default.shape[-2:] == (1, 1)


def test_unknown_resnet_architecture_is_named():
    with pytest.raises(ValueError, match="resnet18, resnet50"):
        ResNetEncoder(arch="resnet7")


# wrap_module


def test_wrapped_module_output_size_is_checked_on_call():
    encoder = wrap_module(nn.Conv2d(1, 8, 3), output_dim=16)
    with pytest.raises(ConfigError, match=r"shape \(2, 8, 6, 6\).*output_dim=16; pass output_dim=8"):
        encoder(torch.randn(2, 1, 8, 8))


def test_wrapped_module_must_return_vectors_or_maps():
    encoder = wrap_module(nn.Flatten(start_dim=2), output_dim=1, in_channels=1)
    with pytest.raises(ConfigError, match=r"returned \(2, 1, 64\).*\[B, 1\] or feature maps"):
        encoder(torch.randn(2, 1, 8, 8))


def test_wrapped_module_in_channels_declared_inferred_or_unknown():
    assert wrap_module(user_module(3, "map"), 24).in_channels == 3  # first Conv2d
    assert wrap_module(user_module(3, "map"), 24, in_channels=1).in_channels == 1  # explicit wins
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
    encoder = wrap_module(mlp, 5)
    assert encoder.in_channels is None  # unknown: not checked
    assert encoder(torch.randn(3, 1, 8, 8)).shape == (3, 5)
    with pytest.raises(ValueError, match="output_dim"):
        wrap_module(mlp, 0)


def test_wrapped_module_builds_a_task_and_keeps_its_weights(registry, digits_bundle):
    torch.manual_seed(0)
    module = user_module(1, "map")
    encoder = wrap_module(module, output_dim=24)
    task = build_task(
        "simclr",
        digits_bundle,
        encoder=encoder,
        task_options={"proj_dim": 8, "hidden_dim": 16},
        registry=registry,
    )
    assert isinstance(task.encoder, WrappedImageEncoder) and task.encoder.module is module
    views = task.collate([digits_bundle.pretrain[i] for i in range(8)])
    assert torch.isfinite(task(views).loss)
    colour = wrap_module(user_module(3, "map"), output_dim=24)
    with pytest.raises(ConfigError, match=r"3-channel images .* 1 channel"):
        build_task("simclr", digits_bundle, encoder=colour, registry=registry)
