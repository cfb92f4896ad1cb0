"""Any timm model as an encoder, named ``timm:<model>`` (sslcore_vision.encoders.timm_models)."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from sslcore import ConfigError
from sslcore.build import build_encoder, build_task
from sslcore.errors import UnknownNameError
from sslcore_vision.encoders.timm_models import TimmEncoder, timm_encoder

INFO = {"in_channels": 1, "image_size": 16}
SMALL_VIT = {"depth": 1, "embed_dim": 32, "num_heads": 2}


@pytest.fixture(scope="module")
def resnet() -> TimmEncoder:
    torch.manual_seed(0)
    return timm_encoder(INFO, "resnet10t").eval()


def test_a_cnn_gives_its_pooled_features_and_stage_maps(resnet) -> None:
    assert resnet.output_dim == resnet.model.num_features == 512 and resnet.in_channels == 1
    assert resnet.patch_size is None
    images = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        out = resnet(images)
        maps = resnet.feature_maps(images)
    assert out.shape == (2, 512) and torch.isfinite(out).all()
    assert [tuple(m.shape[1:]) for m in maps] == [
        (64, 8, 8),
        (64, 4, 4),
        (128, 2, 2),
        (512, 1, 1),
    ]  # deepest per size
    torch.testing.assert_close(resnet.feature_map(images).mean(dim=(2, 3)), out)
    with pytest.raises(ConfigError, match="1-channel images"):
        resnet(torch.randn(2, 3, 16, 16))


def test_a_vit_is_built_for_the_dataset_resolution() -> None:
    """``img_size`` (and resampled position embeddings) reach the models that take them."""
    encoder = timm_encoder(
        {"in_channels": 3, "image_size": 32}, "vit_tiny_patch16_224", model_options=SMALL_VIT
    )
    assert encoder.output_dim == 32 and encoder.patch_size == 16
    with torch.no_grad():
        assert encoder(torch.randn(2, 3, 32, 32)).shape == (2, 32)
        assert encoder(torch.randn(2, 3, 16, 16)).shape == (2, 32)  # a smaller multi-crop view
        assert encoder.feature_map(torch.randn(2, 3, 32, 32)).shape == (2, 32, 2, 2)


def test_output_dim_is_the_pre_logits_width() -> None:
    """A head with a hidden layer (MobileNetV3's conv_head) is part of the features."""
    encoder = timm_encoder({"in_channels": 3, "image_size": 32}, "mobilenetv3_small_050")
    assert encoder.output_dim == encoder.model.head_hidden_size != encoder.model.num_features
    with torch.no_grad():
        assert encoder.eval()(torch.randn(2, 3, 32, 32)).shape == (2, encoder.output_dim)


def test_unknown_model_names_suggest_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"timm has no model 'resnet10x'\. Did you mean resnet10t"):
        timm_encoder(INFO, "resnet10x")
    with pytest.raises(ConfigError, match=r"timm:resnet10t: timm.create_model failed: .*no_such_argument"):
        timm_encoder(INFO, "resnet10t", model_options={"no_such_argument": 1})


def test_timm_names_go_through_the_registry(registry, digits_bundle) -> None:
    for name in ("timm:resnet10t", "vision:timm:resnet10t"):
        encoder = build_encoder(name, INFO, {}, registry)
        assert isinstance(encoder, TimmEncoder) and encoder.model_name == "resnet10t"
    assert registry.qualified_name("encoder", "timm:resnet10t") == "vision:timm:resnet10t"
    with pytest.raises(ConfigError, match="Did you mean resnet10t"):
        build_encoder("timm:resnet10x", INFO, {}, registry)
    with pytest.raises(ConfigError, match=r"encoder 'timm' needs its model: name the encoder timm:<model>"):
        build_encoder("timm", INFO, {}, registry)
    with pytest.raises(UnknownNameError, match="unknown encoder 'tim:resnet10t'"):
        build_encoder("tim:resnet10t", INFO, {}, registry)
    task = build_task("rotation", digits_bundle, "timm:resnet10t", registry=registry)
    assert task.encoder.output_dim == 512


def test_weights_of_the_timm_model_or_the_encoder(resnet, tmp_path: Path) -> None:
    images = torch.randn(2, 1, 16, 16)
    plain = timm.create_model("resnet10t", pretrained=False, num_classes=10, in_chans=1).state_dict()
    plain = {k: v.contiguous() for k, v in plain.items()}
    save_file(plain, tmp_path / "timm.safetensors")  # timm's keys, with its classifier
    torch.save(resnet.state_dict(), tmp_path / "encoder.pt")  # this encoder's keys
    loaded = timm_encoder(INFO, "resnet10t", weights=str(tmp_path / "timm.safetensors"))
    torch.testing.assert_close(loaded.model.conv1[0].weight, plain["conv1.0.weight"])
    again = timm_encoder(INFO, "resnet10t", weights=str(tmp_path / "encoder.pt")).eval()
    with torch.no_grad():
        torch.testing.assert_close(again(images), resnet(images))
    with pytest.raises(
        ConfigError, match=r"timm:resnet14t: the weights .* do not fit the encoder: .*missing key"
    ):
        timm_encoder(INFO, "resnet14t", weights=str(tmp_path / "timm.safetensors"))
