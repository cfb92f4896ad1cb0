"""Any timm model (Wightman 2019, ``timm.create_model``) as an encoder, named
``timm:<model-name>`` (``sslcore encoders``; ``timm.list_models()`` lists the names).
Never downloads: ``pretrained=False`` always; ``weights`` reads a local file."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

import timm
from torch import Tensor, nn

from sslcore import ConfigError
from sslcore.data import info_get
from sslcore_vision.channels import require_channels
from sslcore_vision.encoders.weights import StateDict, load_weights

#: keyword arguments passed when the model's constructor takes them: the dataset's
#: resolution, and position embeddings resampled for other sizes (multi-crop views)
_SIZE_ARGUMENTS = ("img_size", "dynamic_img_size")


class TimmEncoder(nn.Module):
    """A timm model without its classifier (``num_classes=0``), ``self.model``.

    Shapes: ``[B, in_channels, H, W] -> [B, output_dim]``, timm's pre-logits features
    (``forward_features`` then ``forward_head(pre_logits=True)``: pooled for a CNN, the
    [CLS] token or the pooled tokens for a ViT); ``output_dim`` is the model's
    ``head_hidden_size`` (its ``num_features`` unless the head has a hidden layer, as
    MobileNetV3's). :meth:`feature_map`: the last stage's spatial features
    ``[B, num_features, h, w]`` (timm's ``forward_intermediates``; a ViT's final-normed
    patch tokens on their grid); :meth:`feature_maps`: every stage of a CNN.
    """

    def __init__(self, model: nn.Module, model_name: str, in_channels: int):
        super().__init__()
        self.model = model
        self.model_name = model_name
        self.in_channels = in_channels
        self.num_features: int = int(model.num_features)
        self.output_dim: int = int(getattr(model, "head_hidden_size", None) or model.num_features)
        patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
        #: the side of a patch of a patch-embedding model (a ViT), else None
        self.patch_size: int | None = max(patch) if isinstance(patch, (tuple, list)) else patch

    def forward(self, images: Tensor) -> Tensor:
        """``[B, C, H, W] -> [B, output_dim]``."""
        require_channels(self.in_channels, images.shape[1], self._name())
        return self.model.forward_head(self.model.forward_features(images), pre_logits=True).contiguous()

    def feature_map(self, images: Tensor) -> Tensor:
        """``[B, C, H, W] -> [B, num_features, h, w]``: the last stage's map (final-normed
        for a ViT); :class:`~sslcore.ConfigError` for a model that gives no spatial map."""
        return self.feature_maps(images)[-1]

    def feature_maps(self, images: Tensor) -> list[Tensor]:
        """The deepest map of each resolution, shallow to deep (a CNN's stages; a ViT's last
        block, normed), ``[B, C_i, h_i, w_i]``; from timm's ``forward_intermediates``."""
        require_channels(self.in_channels, images.shape[1], self._name())
        maps = None
        if hasattr(self.model, "forward_intermediates"):
            try:
                maps = self.model.forward_intermediates(images, norm=True, intermediates_only=True)
            except (NotImplementedError, TypeError):
                maps = None
        if not maps or any(m.dim() != 4 for m in maps):
            features = self.model.forward_features(images)
            if features.dim() != 4 or features.shape[1] != self.num_features:
                raise ConfigError(
                    f"{self._name()} gives no spatial feature map (forward_features: "
                    f"{tuple(features.shape)}); tasks that need one (deep_infomax, the generative "
                    "tasks' decoders) need a model whose features are [B, C, h, w]"
                )
            return [features]
        return [
            m for m, after in zip(maps, [*maps[1:], None]) if after is None or after.shape[2:] != m.shape[2:]
        ]

    def _name(self) -> str:
        return f"timm:{self.model_name}"


def create(model: str, in_channels: int, image_size: int, options: Mapping[str, Any]) -> nn.Module:
    """``timm.create_model(model, pretrained=False, num_classes=0, in_chans=in_channels)``
    plus ``img_size=image_size`` and ``dynamic_img_size=True`` where the model takes them,
    and the user's ``options``; an unknown name raises ConfigError with the closest names."""
    if not timm.is_model(model):
        close = difflib.get_close_matches(model, timm.list_models(), n=5, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(
            f'timm has no model {model!r}.{hint} List the names with python -c "import timm; '
            f"print(timm.list_models('{model[:4]}*'))\" and use one as timm:<model-name>."
        )
    kwargs = {"img_size": image_size, "dynamic_img_size": True, **options}
    fixed = {"pretrained": False, "num_classes": 0, "in_chans": in_channels}
    while True:
        try:
            return timm.create_model(model, **fixed, **kwargs)
        except TypeError as exc:
            rejected = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
            name = rejected.group(1) if rejected else None
            if name in _SIZE_ARGUMENTS and name in kwargs and name not in options:
                del kwargs[name]  # a model without that argument (a CNN): build it without
                continue
            raise ConfigError(f"timm:{model}: timm.create_model failed: {exc}") from exc


def timm_encoder(
    info: Mapping[str, Any],
    model: str,
    weights: str | None = None,
    model_options: Mapping[str, Any] | None = None,
) -> TimmEncoder:
    """Registered factory (encoder name ``timm:<model>``, e.g. ``timm:resnet18``,
    ``timm:vit_tiny_patch16_224``): ``model``: a ``timm.list_models()`` name; ``weights``:
    a local .safetensors or torch checkpoint of that model (its classifier left out) or of
    this encoder; ``model_options``: more ``timm.create_model`` keywords (e.g.
    ``{"drop_path_rate": 0.1}``). ``in_channels`` and ``image_size`` come from the dataset's ``info``."""
    in_channels = info_get(info, "in_channels")
    net = create(model, in_channels, info_get(info, "image_size"), dict(model_options or {}))
    encoder = TimmEncoder(net, model, in_channels)
    if weights is not None:
        load_weights(
            encoder,
            weights,
            f"timm:{model}",
            adapt=lambda state: _from_timm(state, net),
            fix=f"give weights of timm's {model!r} (the same model_options), or this encoder's own state_dict",
        )
    return encoder


def _from_timm(state: StateDict, net: nn.Module) -> StateDict:
    """A plain timm state dict (keys without ``model.``) in the encoder's keys, classifier dropped."""
    if any(k.startswith("model.") for k in state):
        return state
    classifier = net.pretrained_cfg.get("classifier") if hasattr(net, "pretrained_cfg") else None
    heads = classifier if isinstance(classifier, (list, tuple)) else [classifier] if classifier else []
    own = net.state_dict().keys()
    dropped = {k for k in state if k not in own and any(k.startswith(f"{h}.") for h in heads)}
    return {f"model.{k}": v for k, v in state.items() if k not in dropped}
