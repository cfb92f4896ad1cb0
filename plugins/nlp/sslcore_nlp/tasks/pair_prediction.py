"""Binary segment-pair tasks: next sentence prediction (BERT, Devlin et al. 2019) and
sentence order prediction (ALBERT, Lan et al. 2020, "ALBERT: A Lite BERT for
Self-supervised Learning of Language Representations").

``collate`` turns each pretraining sample into one ``[CLS] A [SEP] B [SEP]`` pair
(:mod:`sslcore_nlp.data.sentence_pairs`; NSP negatives' ``B`` from another sample of the
batch). The objective, with ``f`` the encoder's pooled vector of the pair and
``h`` BERT's pooler + classifier (``Linear(d, d)``, ``tanh``, ``Linear(d, 2)``), is

``L = 1/N sum_i CE(h(f([CLS] A_i [SEP] B_i [SEP])), y_i)``.

``mlm_weight = w > 0`` trains it as BERT (NSP) and ALBERT (SOP) do, jointly with masked
language modelling on the same pairs (BERT's 80/10/10 rule on 15 % of the non-special
tokens, the tied MLM head of the ``mlm`` task): ``L = L_pair + w L_MLM`` (``w = 1`` in both
papers). The default ``w = 0`` is the pair objective alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar

import torch
import torch.nn.functional as F
from annotated_types import Ge, Interval
from torch import Tensor, nn
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from sslcore.data import info_get
from sslcore.errors import ConfigError
from sslcore.paradigms import ContrastiveTask, TaskOutput
from sslcore_nlp.data.sentence_pairs import Pair, SampleDocuments, encode_pair, nsp_pairs, sop_pairs
from sslcore_nlp.encoders.transformer import MODEL_INPUTS
from sslcore_nlp.masking import make_masking
from sslcore_nlp.tasks import input_tokens
from sslcore_nlp.tasks.mlm_head import masked_lm_loss, tied_mlm_head


def collate_rng() -> random.Random:
    """A ``random.Random`` seeded from torch's generator, so ``torch.manual_seed`` (and
    DataLoader's per-worker seeding) makes the pairs reproducible."""
    return random.Random(int(torch.randint(0, 2**62, ()).item()))


class SegmentPairTask(ContrastiveTask):
    """Classify ``[CLS] A [SEP] B [SEP]`` pairs built from pretraining samples.

    Batch (from :meth:`collate`): ``input_ids / token_type_ids / attention_mask [N, L]``,
    ``labels [N]``; with ``mlm_weight > 0`` the ids are masked and ``mlm_labels [N, L]``
    holds the original ids at the masked positions, ``-100`` elsewhere.
    ``embed(inputs) -> [N, output_dim]`` is the encoder's pooled vector.
    """

    domain = "nlp"
    family = "context-instance"
    negatives = "none"
    build_pairs: ClassVar[Callable[[Sequence, random.Random], list[Pair]]]
    metric: ClassVar[str]

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        max_length: Annotated[int, Ge(5)] = 128,
        mlm_weight: Annotated[float, Ge(0)] = 0.0,
        mask_prob: Annotated[float, Interval(gt=0, lt=1)] = 0.15,
    ):
        if mlm_weight < 0:
            raise ConfigError(f"{type(self).__name__}: mlm_weight must be >= 0 (0: no MLM), got {mlm_weight}")
        d = encoder.output_dim
        super().__init__(encoder, head=nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, 2)))
        self.documents = SampleDocuments(tokenizer)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pad = DataCollatorWithPadding(tokenizer, return_tensors="pt")
        self.mlm_weight = mlm_weight
        if mlm_weight > 0:
            self.decoder = tied_mlm_head(encoder)
            self.pad = make_masking(tokenizer, "token", mask_prob)  # pads, then masks (80/10/10)

    @classmethod
    def from_data(cls, encoder: nn.Module, info: Mapping[str, Any], **options: Any) -> SegmentPairTask:
        tokenizer = info_get(info, "tokenizer", f" ({cls.__name__} needs a text dataset)")
        limit = int(info_get(info, "max_length"))
        options.setdefault("max_length", limit)
        if not 5 <= options["max_length"] <= limit:
            raise ConfigError(
                f"{cls.__name__}: max_length must be in [5, {limit}] (the dataset's), got {options['max_length']}"
            )
        return cls(encoder, tokenizer, **options)

    def collate(self, samples: list[Mapping[str, list[int]]]) -> dict[str, Tensor]:
        rng = collate_rng()
        pairs = type(self).build_pairs(self.documents(samples), rng)
        batch = dict(self.pad([encode_pair(p, self.tokenizer, self.max_length, rng) for p in pairs]))
        if self.mlm_weight > 0:
            batch["mlm_labels"] = batch.pop("labels")
        return {**batch, "labels": torch.tensor([p.label for p in pairs])}

    def forward(self, batch: Mapping[str, Tensor]) -> TaskOutput:
        inputs = {k: batch[k] for k in MODEL_INPUTS if k in batch}
        if self.mlm_weight == 0:
            return self._pair_output(self.head(self.encoder(inputs)), batch)  # logits [N, 2]
        states = self.encoder.token_states(inputs)  # [N, L, d]
        mask = inputs.get("attention_mask", torch.ones_like(inputs["input_ids"]))
        out = self._pair_output(self.head(self.encoder.pool(states, mask)), batch)
        mlm_loss, mlm_metrics = masked_lm_loss(self.decoder, states, batch["mlm_labels"])
        metrics = {
            **out.metrics,
            **mlm_metrics,
            "pair_loss": out.loss.detach(),
            "mlm_loss": mlm_loss.detach(),
        }
        return TaskOutput(out.loss + self.mlm_weight * mlm_loss, metrics)

    def _pair_output(self, logits: Tensor, batch: Mapping[str, Tensor]) -> TaskOutput:
        """Cross-entropy of the ``[N, 2]`` pair logits and the pair metrics."""
        labels = batch["labels"]
        loss = F.cross_entropy(logits, labels)
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == labels).float().mean()
        metrics = {self.metric: accuracy, "pairs": float(len(labels)), "tokens": input_tokens(batch)}
        return TaskOutput(loss, metrics)


class SentenceOrderPrediction(SegmentPairTask):
    """ALBERT's SOP: two consecutive segments of one text, in order (label 0) or swapped
    (label 1), 50 % each; both classes share topic, so only discourse order separates them."""

    signal = "order of two consecutive segments"
    metric = "sop_accuracy"
    build_pairs = staticmethod(sop_pairs)


class NextSentencePrediction(SegmentPairTask):
    """BERT's NSP: ``B`` is the true continuation of ``A`` (``IsNext``, label 0) or, 50 %,
    a segment of another text (``NotNext``, label 1)."""

    signal = "whether segment B follows segment A"
    metric = "nsp_accuracy"
    build_pairs = staticmethod(nsp_pairs)
