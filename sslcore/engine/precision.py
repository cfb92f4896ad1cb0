"""Numeric precision of the training step: fp32, bf16 autocast (CPU and CUDA), or fp16
autocast with dynamic loss scaling (:class:`torch.amp.GradScaler`, CUDA only)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from sslcore.engine.device import resolve_precision


class Precision:
    """``autocast()`` for the forward pass; ``scaler(key)`` for one optimiser's loss scaling
    (``None`` unless fp16)."""

    def __init__(self, precision: str, device: torch.device):
        self.precision, self.device = resolve_precision(precision, device), device
        self._scalers: dict[str, torch.amp.GradScaler] = {}

    def autocast(self) -> AbstractContextManager[Any]:
        if self.precision == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def scaler(self, key: str) -> torch.amp.GradScaler | None:
        if self.precision != "fp16":
            return None
        if key not in self._scalers:
            self._scalers[key] = torch.amp.GradScaler(self.device.type)
        return self._scalers[key]

    def state_dict(self) -> dict[str, Any]:
        return {k: s.state_dict() for k, s in self._scalers.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            scaler = self.scaler(key)
            if scaler is not None:
                scaler.load_state_dict(value)
