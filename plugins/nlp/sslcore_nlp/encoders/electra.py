"""ELECTRA encoder (Clark et al. 2020, "ELECTRA: Pre-training Text Encoders as
Discriminators Rather Than Generators"): a ``transformers.ElectraModel``, i.e. BERT's
transformer with a separate embedding size ``E`` (token, position and segment
embeddings of width ``E``, projected to the hidden size ``d`` by ``embeddings_project``
when ``E != d``). Pooling: see :mod:`sslcore_nlp.encoders.transformer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from annotated_types import Interval
from transformers import ElectraModel

from sslcore_nlp.encoders.bert import architecture
from sslcore_nlp.encoders.transformer import Pooling, TransformerEncoder, build_transformer_encoder

#: embedding size E per preset of :data:`sslcore_nlp.encoders.bert.PRESETS` (BERT's transformer, so
#: ELECTRA and MLM runs compare equal encoders): ELECTRA-Small's 128 for ``small``, the hidden size otherwise
EMBEDDING_SIZES: dict[str, int] = {"tiny": 128, "small": 128, "base": 768}


class ElectraEncoder(TransformerEncoder):
    """:class:`TransformerEncoder` over ``ElectraModel(config)``."""

    model_class = ElectraModel


def electra(
    info: Mapping[str, Any],
    preset: str = "tiny",
    pooling: Pooling = "mean",
    dropout: Annotated[float, Interval(ge=0, le=1)] = 0.1,
    pretrained: str | None = None,
) -> ElectraEncoder:
    """Build a randomly initialised ELECTRA transformer for the dataset in ``info``
    (``preset``: BERT's presets with :data:`EMBEDDING_SIZES`), or load one saved with
    ``save_pretrained`` from the local directory ``pretrained``."""
    fields = {**architecture(preset), "embedding_size": EMBEDDING_SIZES[preset]}
    return build_transformer_encoder(ElectraEncoder, info, fields, pooling, dropout, pretrained)
