"""The encoder contract: an ``nn.Module`` with an integer ``output_dim`` that maps a
domain batch to one representation per sample, ``[num_samples, output_dim]``."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn


@runtime_checkable
class Encoder(Protocol):
    """Anything callable on a batch with an ``output_dim``: ``f(x) -> [N, output_dim]``."""

    output_dim: int

    def __call__(self, inputs: Any) -> Tensor: ...


class WrappedEncoder(nn.Module):
    """Give any user ``nn.Module`` the encoder contract by declaring its output size.

    ``WrappedEncoder(torchvision.models.resnet18(num_classes=512), output_dim=512)``
    """

    def __init__(self, module: nn.Module, output_dim: int):
        super().__init__()
        if not isinstance(output_dim, int) or output_dim <= 0:
            raise ValueError(f"output_dim must be a positive int, got {output_dim!r}")
        self.module = module
        self.output_dim = output_dim

    def forward(self, inputs: Any) -> Tensor:
        return self.module(inputs)


def check_encoder_output(encoder: Any, out: Tensor, num_samples: int) -> None:
    """Raise a clear error when ``out`` breaks the contract for a batch of ``num_samples``."""
    dim = getattr(encoder, "output_dim", None)
    if not isinstance(dim, int):
        raise TypeError(f"{type(encoder).__name__} has no integer output_dim attribute")
    if out.dim() != 2 or out.shape != (num_samples, dim):
        raise ValueError(
            f"{type(encoder).__name__} returned shape {tuple(out.shape)}; "
            f"expected [{num_samples}, {dim}] (one row of output_dim per sample)"
        )
