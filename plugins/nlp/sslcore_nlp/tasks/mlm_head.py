"""The BERT masked-language-model head with its output embedding tied to the
encoder's input word embeddings (Devlin et al. 2019; Press & Wolf 2017 for tying).

``logits = W_e^T LayerNorm(gelu(W h + b)) + b_v``: ``[M, d] -> [M, vocab_size]``,
where ``W_e [vocab_size, d]`` is the encoder's word-embedding matrix.
"""

from __future__ import annotations

from torch import nn
from transformers.models.bert.modeling_bert import BertOnlyMLMHead


def tied_mlm_head(encoder: nn.Module) -> BertOnlyMLMHead:
    """An MLM head for a BERT-like ``encoder`` (one with ``.model``, a transformers model
    exposing ``config`` and ``get_input_embeddings()``), sharing its word embeddings."""
    model = getattr(encoder, "model", None)
    if model is None or not hasattr(model, "get_input_embeddings") or not hasattr(encoder, "token_states"):
        raise TypeError(
            f"{type(encoder).__name__} cannot carry an MLM head: it needs `token_states(batch)` and "
            "a transformers model in `.model` (use the 'bert' encoder)"
        )
    width = model.get_input_embeddings().weight.shape[1]
    if width != model.config.hidden_size:
        raise TypeError(
            f"the word embeddings are {width}-dimensional but the hidden states {model.config.hidden_size}: "
            "a tied MLM head needs equal sizes (use an encoder preset whose embedding size is the hidden size)"
        )
    head = BertOnlyMLMHead(model.config)
    head.predictions.decoder.weight = model.get_input_embeddings().weight
    head.predictions.decoder.bias = head.predictions.bias  # one output bias, as in BertForMaskedLM
    return head
