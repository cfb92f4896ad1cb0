"""The one check every image component shares: channel counts must agree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from sslcore import ConfigError
from sslcore.data import info_get


def require_channels(expected: int, got: int, context: str) -> None:
    """Raise :class:`~sslcore.ConfigError` naming both counts when ``got != expected``."""
    if int(expected) != int(got):
        raise ConfigError(
            f"{context}: the encoder takes {expected}-channel images but the data has "
            f"{got} channel(s); build the encoder with in_channels={got} "
            f"(registered encoders read it from the dataset's info)"
        )


def check_encoder_channels(encoder: nn.Module, info: Mapping[str, Any], task: str) -> None:
    """Raise ``ConfigError`` if the encoder does not take ``info["in_channels"]`` channels
    (an encoder that does not declare ``in_channels`` is not checked)."""
    if hasattr(encoder, "in_channels"):
        require_channels(encoder.in_channels, info_get(info, "in_channels"), task)
