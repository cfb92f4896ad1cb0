"""Masked language modelling (Devlin et al. 2019, "BERT: Pre-training of Deep
Bidirectional Transformers for Language Understanding").

A set ``M`` of positions is drawn with probability ``mask_prob`` (15 %) among the
non-special, non-padding tokens; of those, 80 % become ``[MASK]``, 10 % a random token
and 10 % stay unchanged, giving the corrupted input ``x~``. ``masking`` picks how ``M``
is drawn (:mod:`sslcore_nlp.masking`): single tokens (``token``, BERT, the default),
whole words (``whole_word``) or SpanBERT spans of whole words (``span``, Joshi et al.
2020). The objective is

``L = -1/|M| sum_{i in M} log softmax(head(f(x~)_i))[x_i]``

with ``f(x~) [B, L, d]`` the encoder's token states and ``head`` the tied MLM head.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from annotated_types import Ge, Interval
from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase

from sslcore.data import info_get
from sslcore.paradigms import GenerativeTask, TaskOutput
from sslcore_nlp.masking import make_masking
from sslcore_nlp.tasks.mlm_head import masked_lm_loss, tied_mlm_head


class MaskedLanguageModeling(GenerativeTask):
    """BERT's MLM: ``collate`` pads and masks ``{"input_ids": [...]}`` samples into
    ``input_ids / attention_mask / labels [B, L]`` (labels ``-100`` where nothing is
    predicted); ``forward`` scores only the selected positions ``[M, vocab_size]``;
    ``embed`` is the encoder's pooled sentence vector ``[B, output_dim]``."""

    domain = "nlp"
    signal = "masked tokens"

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        mask_prob: Annotated[float, Interval(gt=0, lt=1)] = 0.15,
        mask_replace_prob: Annotated[float, Interval(ge=0, le=1)] = 0.8,
        random_replace_prob: Annotated[float, Interval(ge=0, le=1)] = 0.1,
        masking: str = "token",
        span_p: Annotated[float, Interval(gt=0, le=1)] = 0.2,
        max_span: Annotated[int, Ge(1)] = 10,
    ):
        super().__init__(encoder, decoder=tied_mlm_head(encoder))
        self.masking = make_masking(
            tokenizer, masking, mask_prob, mask_replace_prob, random_replace_prob, span_p, max_span
        )

    @classmethod
    def from_data(cls, encoder: nn.Module, info: Mapping[str, Any], **options: Any) -> MaskedLanguageModeling:
        return cls(encoder, info_get(info, "tokenizer", " (mlm needs a text dataset)"), **options)

    def collate(self, samples: list[Mapping[str, list[int]]]) -> dict[str, Tensor]:
        """Pad to the longest sample and apply the masking rule (80/10/10 on the chosen tokens)."""
        return dict(self.masking(samples))

    def forward(self, batch: Mapping[str, Tensor]) -> TaskOutput:
        states = self.encoder.token_states(batch)  # [B, L, d]
        loss, metrics = masked_lm_loss(self.decoder, states, batch["labels"])
        if metrics["masked_tokens"]:  # a batch of very short texts may have nothing masked
            metrics["tokens"] = batch["attention_mask"].sum()
        return TaskOutput(loss, metrics)
