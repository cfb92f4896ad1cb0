"""Unsupervised SimCSE (Gao et al. 2021, "SimCSE: Simple Contrastive Learning of Sentence
Embeddings").

Each sentence ``x_i`` of a batch of ``N`` is encoded twice; the two passes differ only by
their dropout masks (the only augmentation). With ``h = g(f(x))`` the pooled vector
through the training-only MLP ``g`` (``Linear(d, d)``, ``tanh``; SimCSE's "MLP during
training only") and ``sim`` the cosine,

``L = -1/N sum_i log exp(sim(h_i, h_i^+)/tau) / sum_j exp(sim(h_i, h_j^+)/tau)``,

``tau = 0.05``: :func:`sslcore.contrast.info_nce` with query ``h`` and in-batch keys
``h^+`` (the other sentences' second views are the negatives; not the symmetric form).

Samples: one random sentence of each pretraining sample (``segment="sentence"``) or the
whole sample (``segment="sample"``), as ``[CLS] sentence [SEP]`` truncated to ``max_length``
tokens (32, the paper's); see ``plugins/nlp/README.md``, "simcse".
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Annotated, Any

import torch
from annotated_types import Ge, Gt
from torch import Tensor, nn
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from sslcore.contrast import info_nce
from sslcore.data import info_get
from sslcore.errors import ConfigError
from sslcore.paradigms import ContrastiveTask, TaskOutput
from sslcore_nlp.data.sentence_pairs import SampleDocuments
from sslcore_nlp.encoders.transformer import MODEL_INPUTS
from sslcore_nlp.tasks import input_tokens
from sslcore_nlp.tasks.pair_prediction import collate_rng

SEGMENTS = ("sentence", "sample")


class SimCSE(ContrastiveTask):
    """Batch (from :meth:`collate`): ``input_ids / attention_mask [N, L]`` of ``N``
    sentences; :meth:`forward` encodes the batch twice in one pass (``[2N, L]``).
    ``embed(inputs) -> [N, output_dim]`` is the encoder's pooled vector, without the MLP."""

    domain = "nlp"
    signal = "identity of a sentence under two dropout masks"
    family = "instance-instance"
    negatives = "end-to-end"

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        temperature: Annotated[float, Gt(0)] = 0.05,
        max_length: Annotated[int, Ge(3)] = 32,
        segment: str = "sentence",
    ):
        d = encoder.output_dim
        super().__init__(encoder, head=nn.Sequential(nn.Linear(d, d), nn.Tanh()))
        if segment not in SEGMENTS:
            raise ConfigError(f"simcse: segment must be one of {', '.join(SEGMENTS)}, got {segment!r}")
        if max_length < 3:
            raise ConfigError(f"simcse: max_length must be at least 3 tokens, got {max_length}")
        if not any(isinstance(m, nn.Dropout) and m.p > 0 for m in encoder.modules()):
            warnings.warn(
                "simcse: the encoder has no dropout, so the two views of a sentence are identical and the "
                "loss is solved without learning anything; build the encoder with dropout > 0 (e.g. 0.1)",
                stacklevel=2,
            )
        self.temperature = temperature
        self.max_length = max_length
        self.segment = segment
        self.tokenizer = tokenizer
        self.documents = SampleDocuments(tokenizer)
        self.pad = DataCollatorWithPadding(tokenizer, return_tensors="pt")

    @classmethod
    def from_data(cls, encoder: nn.Module, info: Mapping[str, Any], **options: Any) -> SimCSE:
        tokenizer = info_get(info, "tokenizer", " (simcse needs a text dataset)")
        limit = int(info_get(info, "max_length"))
        options["max_length"] = min(int(options.get("max_length", 32)), limit)
        return cls(encoder, tokenizer, **options)

    def collate(self, samples: list[Mapping[str, list[int]]]) -> dict[str, Tensor]:
        """One ``[CLS] sentence [SEP]`` per sample, padded: ``input_ids / attention_mask [N, L]``."""
        rng = collate_rng()
        rows = []
        for sample in samples:
            sentences = self.documents([sample])[0] if self.segment == "sentence" else []
            if not sentences:
                tokens = self.documents.content(sample)
            else:  # prefer real sentences over stray 1-2 token pieces
                long = [s for s in sentences if len(s) >= 3] or [max(sentences, key=len)]
                tokens = rng.choice(long)
            ids = [self.tokenizer.cls_token_id, *tokens[: self.max_length - 2], self.tokenizer.sep_token_id]
            rows.append({"input_ids": ids})
        return dict(self.pad(rows))

    def project(self, batch: Mapping[str, Tensor]) -> Tensor:
        """``h = g(f(x))``: ``[N, L]`` inputs -> ``[N, output_dim]``."""
        return self.head(self.encoder({k: batch[k] for k in MODEL_INPUTS if k in batch}))

    def forward(self, batch: Mapping[str, Tensor]) -> TaskOutput:
        twice = {k: torch.cat([batch[k], batch[k]]) for k in MODEL_INPUTS if k in batch}
        z1, z2 = self.project(twice).chunk(2)  # two dropout masks, one pass
        loss = info_nce(z1, z2, temperature=self.temperature)
        with torch.no_grad():
            sim = torch.nn.functional.normalize(z1, dim=1) @ torch.nn.functional.normalize(z2, dim=1).T
            top1 = (sim.argmax(1) == torch.arange(len(sim), device=sim.device)).float().mean()
        # each sentence's tokens counted once (encoded twice)
        metrics = {"positive_cosine": sim.diagonal().mean(), "top1": top1, "tokens": input_tokens(batch)}
        return TaskOutput(loss, metrics)
