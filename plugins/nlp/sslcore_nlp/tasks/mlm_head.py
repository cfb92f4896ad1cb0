"""The BERT masked-language-model head with its output embedding tied to the
encoder's input word embeddings (Devlin et al. 2019; Press & Wolf 2017 for tying).

``logits = W_e^T LayerNorm(gelu(W h + b)) + b_v``: ``[M, d] -> [M, vocab_size]``,
where ``W_e [vocab_size, d]`` is the encoder's word-embedding matrix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers.models.bert.modeling_bert import BertOnlyMLMHead

from sslcore_nlp.masking import IGNORE


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


def masked_lm_loss(
    head: nn.Module, states: Tensor, labels: Tensor
) -> tuple[Tensor, dict[str, float | Tensor]]:
    """``L = -1/|M| sum_{i in M} log softmax(head(states_i))[labels_i]`` over the positions
    ``M`` where ``labels [B, L]`` is not ``-100`` (``states [B, L, d]``; only ``[M, d]`` go
    through the head), with ``mlm_accuracy`` and ``masked_tokens``. A batch with nothing
    masked (very short texts) gives a zero loss that keeps the graph, and
    ``masked_tokens = 0``."""
    selected = labels != IGNORE
    if not selected.any():
        return states.sum() * 0.0, {"masked_tokens": 0.0}
    logits = head(states[selected])  # [M, vocab_size]
    targets = labels[selected]
    loss = F.cross_entropy(logits, targets)
    with torch.no_grad():
        accuracy = (logits.argmax(-1) == targets).float().mean()
    return loss, {"mlm_accuracy": accuracy, "masked_tokens": selected.sum()}
