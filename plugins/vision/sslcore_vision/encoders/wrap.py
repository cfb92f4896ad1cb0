"""Give any user ``nn.Module`` over images the vision encoder contract."""

from __future__ import annotations

from torch import Tensor, nn

from sslcore import ConfigError, WrappedEncoder
from sslcore_vision.channels import require_channels


class WrappedImageEncoder(WrappedEncoder):
    """A user module as an image encoder: ``[B, in_channels, H, W] -> [B, output_dim]``.

    The module may return vectors ``[B, output_dim]`` or feature maps
    ``[B, output_dim, h, w]``; maps are global-average-pooled by :meth:`forward` and
    returned as they are by :meth:`feature_map`. Every call checks the module's output
    against ``output_dim`` (and the input against ``in_channels`` when known) and raises
    :class:`~sslcore.ConfigError` naming both sizes.
    """

    def __init__(self, module: nn.Module, output_dim: int, in_channels: int | None = None):
        super().__init__(module, output_dim)
        if in_channels is None:  # the module's own in_channels, else its first Conv2d's, else unknown
            declared = getattr(module, "in_channels", None)
            conv = next((m.in_channels for m in module.modules() if isinstance(m, nn.Conv2d)), None)
            in_channels = declared if isinstance(declared, int) else conv
        self.in_channels = in_channels

    def _run(self, images: Tensor) -> Tensor:
        if self.in_channels is not None:
            require_channels(self.in_channels, images.shape[1], self._name())
        out = self.module(images)
        if not isinstance(out, Tensor) or out.dim() not in (2, 4):
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ConfigError(
                f"{self._name()} returned {got}; an image encoder must return vectors "
                f"[B, {self.output_dim}] or feature maps [B, {self.output_dim}, h, w]"
            )
        if out.shape[0] != images.shape[0] or out.shape[1] != self.output_dim:
            raise ConfigError(
                f"{self._name()} returned shape {tuple(out.shape)} for {images.shape[0]} images but "
                f"was wrapped with output_dim={self.output_dim}; pass output_dim={out.shape[1]} "
                f"to wrap_module or change the module's last layer"
            )
        return out

    def feature_map(self, images: Tensor) -> Tensor:
        """``[B, in_channels, H, W] -> [B, output_dim, h, w]``, if the module gives maps."""
        out = self._run(images)
        if out.dim() != 4:
            raise ConfigError(
                f"{self._name()} returns vectors {tuple(out.shape)}, not feature maps "
                f"[B, {self.output_dim}, h, w], so it has no feature_map; tasks that need "
                "spatial features need a module that stops before global pooling"
            )
        return out

    def forward(self, images: Tensor) -> Tensor:
        out = self._run(images)
        return out.mean(dim=(2, 3)) if out.dim() == 4 else out

    def _name(self) -> str:
        return f"wrapped {type(self.module).__name__}"


def wrap_module(module: nn.Module, output_dim: int, in_channels: int | None = None) -> WrappedImageEncoder:
    """Wrap ``module`` (images ``[B, C, H, W]`` -> ``[B, output_dim]`` or
    ``[B, output_dim, h, w]``) as an encoder for the vision tasks, e.g.::

        trunk = nn.Sequential(*list(torchvision.models.resnet34().children())[:-2])
        task = build_task("simclr", bundle, encoder=wrap_module(trunk, output_dim=512))

    ``in_channels`` defaults to the module's own ``in_channels`` or its first ``Conv2d``'s.
    """
    return WrappedImageEncoder(module, output_dim, in_channels)
