from __future__ import annotations

from functools import cache

import pytest
import torch

from sslcore import ConfigError
from sslcore.build import build_encoder

# (name, options) for every registered vision encoder, with each stem variant
ENCODERS = [
    ("small_cnn", {}),
    ("small_cnn", {"width": 8, "output_dim": 40, "stem_stride": 1}),
    ("resnet18", {}),
    ("resnet18", {"small_images": True}),
]
# (channels, size): fashion-mnist, digits (default and native 8x8), small colour images
IMAGES = [(1, 28), (1, 16), (1, 8), (3, 32)]


@pytest.fixture(scope="module")
def encoder_for(registry):
    """Build each (name, options, channels) once: constructing a ResNet-18 is the slow part."""

    @cache
    def build(name: str, options: tuple, channels: int):
        return build_encoder(name, {"in_channels": channels}, dict(options), registry)

    return lambda name, options, channels: build(name, tuple(sorted(options.items())), channels)


def test_the_cases_cover_every_registered_encoder(registry):
    assert {name for name, _ in ENCODERS} == {s.name for s in registry.specs("encoder", "vision").values()}


@pytest.mark.parametrize("name,options", ENCODERS)
@pytest.mark.parametrize("channels,size", IMAGES)
def test_encoder_maps_images_to_output_dim_rows(encoder_for, name, options, channels, size):
    torch.manual_seed(0)
    encoder = encoder_for(name, options, channels)
    images = torch.randn(3, channels, size, size)
    out = encoder(images)
    assert out.shape == (3, encoder.output_dim)
    assert torch.isfinite(out).all()
    if "output_dim" in options:
        assert encoder.output_dim == options["output_dim"]


@pytest.mark.parametrize("name,options", ENCODERS)
def test_gradients_reach_every_parameter(encoder_for, name, options):
    torch.manual_seed(0)
    encoder = encoder_for(name, options, 1)
    encoder.zero_grad(set_to_none=True)
    encoder(torch.randn(4, 1, 28, 28)).square().mean().backward()
    for pname, param in encoder.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), pname
    first = next(p for p in encoder.parameters() if p.dim() == 4)
    assert first.grad.abs().sum() > 0


def test_embedding_depends_on_the_image(registry):
    torch.manual_seed(0)
    encoder = build_encoder("small_cnn", {"in_channels": 1}, {}, registry).eval()
    a, b = encoder(torch.randn(2, 1, 28, 28)).unbind()
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("name,options", ENCODERS)
def test_channel_mismatch_names_both_counts(encoder_for, name, options):
    encoder = encoder_for(name, options, 3)
    with pytest.raises(ConfigError, match=r"3-channel images .* 1 channel"):
        encoder(torch.randn(2, 1, 28, 28))


def test_missing_in_channels_is_named(registry):
    with pytest.raises(KeyError, match="in_channels"):
        build_encoder("small_cnn", {"image_size": 28}, {}, registry)


@pytest.mark.parametrize("name,options", ENCODERS)
def test_feature_map_pools_to_the_embedding(encoder_for, name, options):
    """``feature_map`` (used by local-global and dense tasks) is the map ``forward`` averages."""
    torch.manual_seed(0)
    encoder = encoder_for(name, options, 1).eval()
    images = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        fmap, pooled = encoder.feature_map(images), encoder(images)
    assert fmap.dim() == 4 and fmap.shape[:2] == (2, encoder.output_dim)
    torch.testing.assert_close(fmap.mean(dim=(2, 3)), pooled)
