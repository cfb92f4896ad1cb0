"""Evaluation protocols. They only see ``task.embed`` and work the same for every domain."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from sslcore.errors import UnknownNameError
from sslcore.evaluation.adam_linear import adam_linear_probe
from sslcore.evaluation.embeddings import extract_embeddings
from sslcore.evaluation.finetune import finetune
from sslcore.evaluation.knn import knn_probe
from sslcore.evaluation.linear import ProbeResult, linear_probe
from sslcore.evaluation.link import link_prediction

PROTOCOLS: dict[str, Callable[..., ProbeResult]] = {
    "linear": linear_probe,
    "knn": knn_probe,
    "link": link_prediction,
    "linear_adam": adam_linear_probe,
}
#: protocols that train the task itself (``protocol(task, evalset, seed=, device=, **options)``)
#: instead of reading frozen embeddings
TASK_PROTOCOLS: dict[str, Callable[..., ProbeResult]] = {"finetune": finetune}


def is_task_protocol(name: str) -> bool:
    """Whether protocol ``name`` trains the task (see :data:`TASK_PROTOCOLS`)."""
    get_protocol(name)
    return name in TASK_PROTOCOLS


def probe_embeddings(
    probe: Callable[..., ProbeResult], X: Any, y: Any, splits: Any, seed: int, device: Any, **options: Any
) -> ProbeResult:
    """``probe(X, y, splits, seed=..., **options)``, on ``device`` when the protocol takes one
    (the linear probe fits on the GPU there)."""
    if "device" in inspect.signature(probe).parameters:
        options["device"] = device
    return probe(X, y, splits, seed=seed, **options)


def get_protocol(name: str) -> Callable[..., ProbeResult]:
    """The protocol called ``name``; an :class:`UnknownNameError` listing the known ones."""
    known = {**PROTOCOLS, **TASK_PROTOCOLS}
    if name not in known:
        raise UnknownNameError("protocol", name, known)
    return known[name]


__all__ = [
    "PROTOCOLS",
    "TASK_PROTOCOLS",
    "ProbeResult",
    "adam_linear_probe",
    "extract_embeddings",
    "finetune",
    "get_protocol",
    "is_task_protocol",
    "knn_probe",
    "linear_probe",
    "probe_embeddings",
]
