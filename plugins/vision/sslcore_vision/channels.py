"""The one check every image component shares: channel counts must agree."""

from __future__ import annotations

from sslcore import ConfigError


def require_channels(expected: int, got: int, context: str) -> None:
    """Raise :class:`~sslcore.ConfigError` naming both counts when ``got != expected``."""
    if int(expected) != int(got):
        raise ConfigError(
            f"{context}: the encoder takes {expected}-channel images but the data has "
            f"{got} channel(s); build the encoder with in_channels={got} "
            f"(registered encoders read it from the dataset's info)"
        )
