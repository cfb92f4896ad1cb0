"""What a checkpoint records about the software that wrote it."""

from __future__ import annotations

import platform
from functools import lru_cache
from importlib import metadata

import torch


@lru_cache(maxsize=64)
def _distribution_of(module: str) -> tuple[str, str] | None:
    """``(distribution, version)`` that installs the top-level package of ``module``."""
    top = module.split(".", 1)[0]
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return dist, metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def software_versions(*objects: object) -> dict[str, str]:
    """Versions of Python, torch, sslcore and of the distributions defining ``objects``'
    classes (e.g. the plugin that provides a task)."""
    out = {"python": platform.python_version(), "torch": str(torch.__version__)}
    try:
        out["sslcore"] = metadata.version("sslcore")
    except metadata.PackageNotFoundError:
        pass
    for obj in objects:
        found = _distribution_of(type(obj).__module__)
        if found is not None:
            out[found[0]] = found[1]
    return out
