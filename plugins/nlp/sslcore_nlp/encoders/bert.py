"""BERT encoder (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding"): a ``transformers.BertModel`` that maps a
tokenised batch to one sentence vector per row (pooling: see
:mod:`sslcore_nlp.encoders.transformer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from annotated_types import Interval
from transformers import BertModel

from sslcore_nlp.encoders.transformer import Pooling, TransformerEncoder, build_transformer_encoder

#: (layers, hidden size, attention heads, intermediate size)
PRESETS: dict[str, tuple[int, int, int, int]] = {
    "tiny": (2, 128, 2, 512),
    "small": (4, 256, 4, 1024),
    "base": (12, 768, 12, 3072),
}


class BertEncoder(TransformerEncoder):
    """:class:`TransformerEncoder` over ``BertModel(config, add_pooling_layer=False)``."""

    model_class = BertModel
    model_options = {"add_pooling_layer": False}


def architecture(preset: str) -> dict[str, int]:
    """The config fields of ``preset``; ``ValueError`` naming the presets if unknown."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    fields = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size")
    return dict(zip(fields, PRESETS[preset]))


def bert(
    info: Mapping[str, Any],
    preset: str = "tiny",
    pooling: Pooling = "mean",
    dropout: Annotated[float, Interval(ge=0, le=1)] = 0.1,
    pretrained: str | None = None,
) -> BertEncoder:
    """Build a randomly initialised BERT for the dataset in ``info`` (``preset`` is one of
    :data:`PRESETS`), or load one saved with ``save_pretrained`` from the local directory
    ``pretrained`` (its vocabulary must be the dataset tokenizer's); see
    :func:`~sslcore_nlp.encoders.transformer.build_transformer_encoder`."""
    return build_transformer_encoder(BertEncoder, info, architecture(preset), pooling, dropout, pretrained)
