"""Export a run's pretrained encoder: ``<out>/encoder.safetensors`` (no code runs when it is
read), the ``<out>/encoder.json`` sidecar describing it (run, versions, tensors, SHA-256), and
what plugins add through the ``sslcore_export_extras`` hook (NLP: ``<out>/transformers/``)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import nn

from sslcore.errors import CheckpointError
from sslcore.io import atomic_write, atomic_write_json, read_json
from sslcore.plugins.manager import Registry, get_registry

WEIGHTS = "encoder.safetensors"
SIDECAR = "encoder.json"
FORMAT = "sslcore-encoder/1"


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def export_encoder(encoder: nn.Module, out_dir: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``encoder``'s state dict to ``out_dir/encoder.safetensors`` and the sidecar
    ``encoder.json`` (``metadata`` merged in); returns the weights file."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # contiguous CPU copies: safetensors refuses views and tensors that share storage
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in encoder.state_dict().items()}
    weights = out / WEIGHTS
    atomic_write(weights, lambda f: f.write(save(tensors, metadata={"format": FORMAT})))
    sidecar = {
        "format": FORMAT,
        "encoder_class": f"{type(encoder).__module__}.{type(encoder).__qualname__}",
        "output_dim": getattr(encoder, "output_dim", None),
        "tensors": {
            k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")}
            for k, v in tensors.items()
        },
        "sha256": _sha256(weights),
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(metadata or {}),
    }
    atomic_write_json(out / SIDECAR, sidecar)
    return weights


def read_export(export_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(tensors, sidecar)`` of an export folder; CheckpointError if the weights do not
    match the sidecar's checksum."""
    folder = Path(export_dir)
    weights, sidecar_path = folder / WEIGHTS, folder / SIDECAR
    if not weights.exists() or not sidecar_path.exists():
        raise CheckpointError(f"{folder} is not an sslcore export: {WEIGHTS} and {SIDECAR} are expected")
    sidecar = read_json(sidecar_path)
    if sidecar.get("sha256") != _sha256(weights):
        raise CheckpointError(f"{weights} does not match the checksum in {sidecar_path}: the file changed")
    return load_file(str(weights)), sidecar


def load_encoder(export_dir: str | Path, encoder: nn.Module) -> nn.Module:
    """Load an export's weights into ``encoder`` (a fresh instance of the exported class)."""
    tensors, _ = read_export(export_dir)
    encoder.load_state_dict(tensors)
    return encoder


def export_run(
    run_dir: str | Path,
    out_dir: str | Path,
    data_root: str | Path | None = None,
    registry: Registry | None = None,
    encoder: nn.Module | None = None,
) -> dict[str, Path]:
    """Export the encoder of a run folder's latest checkpoint; returns the files written
    (``weights``, ``sidecar`` and what plugins add, e.g. ``transformers``).
    ``encoder``: for a run pretrained with a user module, a fresh instance of it."""
    from sslcore.runs import load_run

    registry = registry or get_registry()
    task, bundle, run = load_run(run_dir, data_root=data_root, registry=registry, encoder=encoder)
    out = Path(out_dir)
    metadata = {
        "run": str(Path(run_dir).resolve()),
        **{k: run.get(k) for k in ("task", "dataset", "encoder", "encoder_options", "dataset_options")},
        "versions": run.get("versions", {}),
    }
    written = {"weights": export_encoder(task.encoder, out, metadata), "sidecar": out / SIDECAR}
    for extras in registry.hook.sslcore_export_extras(task=task, info=bundle.info, out_dir=out):
        written.update(extras)
    return written


__all__ = ["export_encoder", "export_run", "load_encoder", "read_export"]
