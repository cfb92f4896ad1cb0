"""The raw-feature baseline: a parameter-free "task" whose ``embed`` returns the inputs
themselves, so the same protocol runs on them as on learned embeddings. Each domain
plugin supplies its own through the ``sslcore_raw_features`` hook (the vision plugin:
flattened pixels; nlp: a bag of tokens; graph: node features); without one, a tensor
batch ``[B, ...]`` (rows, images) is flattened to ``[B, d]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from sslcore.data import DatasetBundle
from sslcore.plugins.manager import Registry, get_registry


class RawFeatures(nn.Module):
    """``embed(inputs) -> features(inputs)``, by default a tensor batch flattened to float
    ``[B, d]``; :class:`TypeError` for other inputs."""

    def __init__(self, features: Callable[[Any], Tensor] | None = None):
        super().__init__()
        self.features = features

    def embed(self, inputs: Any) -> Tensor:
        if self.features is not None:
            return self.features(inputs)
        if isinstance(inputs, Tensor):
            return inputs.flatten(1).float()
        raise TypeError(
            f"no raw-feature baseline for evaluation inputs of type {type(inputs).__name__}: no plugin "
            "supplies one for this dataset (hook sslcore_raw_features) and they are not a tensor"
        )


def raw_features(bundle: DatasetBundle, registry: Registry | None = None) -> nn.Module:
    """The raw-feature baseline of ``bundle``: the one its domain's plugin supplies, else
    :class:`RawFeatures`."""
    found = (registry or get_registry()).hook.sslcore_raw_features(bundle=bundle)
    return found if found is not None else RawFeatures()
