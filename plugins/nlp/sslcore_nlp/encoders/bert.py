"""BERT encoder (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding"): a ``transformers.BertModel`` that maps a
tokenised batch to one sentence vector per row.

Pooling over the last hidden states ``H in R^{B x L x d}`` with attention mask ``m``:
``mean``: ``z_b = sum_t m_bt H_bt / sum_t m_bt``; ``cls``: ``z_b = H_b0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import Tensor, nn
from transformers import BertConfig, BertModel

from sslcore.data import info_get

Pooling = Literal["mean", "cls"]

#: (layers, hidden size, attention heads, intermediate size)
PRESETS: dict[str, tuple[int, int, int, int]] = {
    "tiny": (2, 128, 2, 512),
    "small": (4, 256, 4, 1024),
    "base": (12, 768, 12, 3072),
}
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class BertEncoder(nn.Module):
    """``forward(batch) -> [B, output_dim]`` sentence vectors; ``token_states(batch) ->
    [B, L, output_dim]`` per-token states (for MLM heads).

    ``batch`` is the tokenizer's output: ``input_ids [B, L]``, ``attention_mask [B, L]``
    and optionally ``token_type_ids [B, L]``; other keys (e.g. MLM ``labels``) are ignored.
    """

    def __init__(self, config: BertConfig, pooling: Pooling = "mean"):
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        self.model = BertModel(config, add_pooling_layer=False)
        self.pooling = pooling
        self.output_dim: int = config.hidden_size

    def token_states(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Last-layer hidden states ``[B, L, output_dim]``."""
        inputs = {k: batch[k] for k in _MODEL_INPUTS if k in batch}
        return self.model(**inputs).last_hidden_state

    def pool(self, states: Tensor, attention_mask: Tensor) -> Tensor:
        """``[B, L, d]`` states and ``[B, L]`` mask -> ``[B, d]`` sentence vectors."""
        if self.pooling == "cls":
            return states[:, 0]
        weights = attention_mask.to(states.dtype).unsqueeze(-1)
        return (states * weights).sum(1) / weights.sum(1).clamp_min(1.0)

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        mask = batch.get("attention_mask")
        if mask is None:
            mask = torch.ones_like(batch["input_ids"])
        return self.pool(self.token_states({**batch, "attention_mask": mask}), mask)


def bert(
    info: Mapping[str, Any],
    preset: str = "tiny",
    pooling: Pooling = "mean",
    dropout: float = 0.1,
) -> BertEncoder:
    """Build a randomly initialised BERT for the dataset in ``info``.

    Vocabulary size and special ids come from ``info["tokenizer"]``; the number of
    position embeddings is ``info["max_length"]``. ``preset`` is one of :data:`PRESETS`.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown BERT preset {preset!r}; choose one of {', '.join(PRESETS)}")
    layers, hidden, heads, intermediate = PRESETS[preset]
    tokenizer = info_get(info, "tokenizer", " (the bert encoder needs a text dataset)")
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        max_position_embeddings=int(info_get(info, "max_length")),
        pad_token_id=tokenizer.pad_token_id,
    )
    return BertEncoder(config, pooling)
