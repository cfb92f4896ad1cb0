"""Evaluation protocols. They only see ``task.embed`` and work the same for every domain."""

from __future__ import annotations

from collections.abc import Callable

from sslcore.errors import UnknownNameError
from sslcore.evaluation.embeddings import extract_embeddings
from sslcore.evaluation.knn import knn_probe
from sslcore.evaluation.linear import ProbeResult, linear_probe
from sslcore.evaluation.link import link_prediction

PROTOCOLS: dict[str, Callable[..., ProbeResult]] = {
    "linear": linear_probe,
    "knn": knn_probe,
    "link": link_prediction,
}


def get_protocol(name: str) -> Callable[..., ProbeResult]:
    if name not in PROTOCOLS:
        raise UnknownNameError("protocol", name, PROTOCOLS)
    return PROTOCOLS[name]


__all__ = ["PROTOCOLS", "ProbeResult", "extract_embeddings", "get_protocol", "knn_probe", "linear_probe"]
