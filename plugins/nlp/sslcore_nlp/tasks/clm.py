"""Causal language modelling (Radford et al. 2018, "Improving Language Understanding by
Generative Pre-Training"): predict every token from the ones before it,

``L = -1/|T| sum_{(b,t) in T} log softmax(head(f(x)_{b,t}))[x_{b,t+1}]``,

``T`` the positions whose next token is not padding, ``f(x) [B, L, d]`` the states of
the encoder built with a causal self-attention mask, ``head`` the MLM-style head tied to
the word embeddings (``BertLMHeadModel``'s ``cls``). The encoder is the registered
``bert`` (or ``electra``) transformer built with ``is_decoder=True`` (asked for through
:meth:`encoder_info`); ``embed`` is its pooled vector (``mean``, or GPT-style ``last``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from sslcore.data import info_get
from sslcore.errors import ConfigError
from sslcore.paradigms import GenerativeTask, TaskOutput
from sslcore_nlp.tasks import input_tokens
from sslcore_nlp.tasks.mlm_head import masked_lm_loss, tied_mlm_head


class CausalLanguageModeling(GenerativeTask):
    """``collate`` pads ``{"input_ids": [...]}`` samples into ``input_ids /
    attention_mask / labels [B, L]`` (``DataCollatorForLanguageModeling(mlm=False)``:
    labels are the ids, ``-100`` on padding); ``forward`` scores the ``[M, vocab_size]``
    next-token logits of the positions whose next token is real."""

    domain = "nlp"
    signal = "next token"

    def __init__(self, encoder: nn.Module, tokenizer: PreTrainedTokenizerBase):
        model = getattr(encoder, "model", None)
        if not getattr(getattr(model, "config", None), "is_decoder", False):
            raise ConfigError(
                "clm needs a causal encoder (a transformers model in `.model` with config.is_decoder=True); "
                "the registered 'bert' and 'electra' encoders are built causal for clm"
            )
        super().__init__(encoder, decoder=tied_mlm_head(encoder))
        self.shift = DataCollatorForLanguageModeling(tokenizer, mlm=False)

    @classmethod
    def encoder_info(cls, info: Mapping[str, Any]) -> Mapping[str, Any]:
        return {**info, "causal": True}

    @classmethod
    def from_data(cls, encoder: nn.Module, info: Mapping[str, Any], **options: Any) -> CausalLanguageModeling:
        return cls(encoder, info_get(info, "tokenizer", " (clm needs a text dataset)"), **options)

    def collate(self, samples: list[Mapping[str, list[int]]]) -> dict[str, Tensor]:
        return dict(self.shift([{"input_ids": s["input_ids"]} for s in samples]))

    def forward(self, batch: Mapping[str, Tensor]) -> TaskOutput:
        states = self.encoder.token_states(batch)[:, :-1]  # [B, L-1, d] predict position t+1
        loss, mlm = masked_lm_loss(self.decoder, states, batch["labels"][:, 1:])
        metrics = {"predicted_tokens": mlm["masked_tokens"], "tokens": input_tokens(batch)}
        if "mlm_accuracy" in mlm:  # absent when no position has a real next token (zero loss)
            metrics.update(next_token_accuracy=mlm["mlm_accuracy"], perplexity=loss.detach().exp())
        return TaskOutput(loss, metrics)
