"""Binary segment-pair tasks: next sentence prediction (BERT, Devlin et al. 2019) and
sentence order prediction (ALBERT, Lan et al. 2020, "ALBERT: A Lite BERT for
Self-supervised Learning of Language Representations").

``collate`` turns each pretraining sample (a packed block of consecutive text, or a line)
into one ``[CLS] A [SEP] B [SEP]`` pair with :mod:`sslcore_nlp.data.sentence_pairs`: the
sample is split into sentences at its ``. ! ?`` tokens and cut at a random sentence
boundary, as BERT's and ALBERT's data builders cut a chunk of consecutive sentences.
The NSP negatives' ``B`` comes from another sample of the batch, i.e. another part of
the corpus. The objective, with ``f`` the encoder's pooled vector of the pair and
``h`` BERT's pooler + classifier (``Linear(d, d)``, ``tanh``, ``Linear(d, 2)``), is

``L = 1/N sum_i CE(h(f([CLS] A_i [SEP] B_i [SEP])), y_i)``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from sslcore.data import info_get
from sslcore.errors import ConfigError
from sslcore.paradigms import ContrastiveTask, TaskOutput
from sslcore_nlp.data.sentence_pairs import Pair, SampleDocuments, encode_pair, nsp_pairs, sop_pairs

_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _tokens(batch: Mapping[str, Tensor]) -> float:
    """Non-padding input tokens of the batch (the throughput metric, as ``mlm``'s)."""
    mask = batch.get("attention_mask")
    return float(mask.sum()) if mask is not None else float(batch["input_ids"].numel())


def collate_rng() -> random.Random:
    """A ``random.Random`` seeded from torch's generator, so ``torch.manual_seed`` (and
    DataLoader's per-worker seeding) makes the pairs reproducible."""
    return random.Random(int(torch.randint(0, 2**62, ()).item()))


class SegmentPairTask(ContrastiveTask):
    """Classify ``[CLS] A [SEP] B [SEP]`` pairs built from pretraining samples.

    Batch (from :meth:`collate`): ``input_ids / token_type_ids / attention_mask [N, L]``,
    ``labels [N]``. ``embed(inputs) -> [N, output_dim]`` is the encoder's pooled vector.
    """

    domain = "nlp"
    family = "context-instance"
    negatives = "none"
    build_pairs: ClassVar[Callable[[Sequence, random.Random], list[Pair]]]
    metric: ClassVar[str]

    def __init__(self, encoder: nn.Module, tokenizer: PreTrainedTokenizerBase, max_length: int = 128):
        d = encoder.output_dim
        super().__init__(encoder, head=nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, 2)))
        self.documents = SampleDocuments(tokenizer)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pad = DataCollatorWithPadding(tokenizer, return_tensors="pt")

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
        batch = self.pad([encode_pair(p, self.tokenizer, self.max_length, rng) for p in pairs])
        return {**batch, "labels": torch.tensor([p.label for p in pairs])}

    def forward(self, batch: Mapping[str, Tensor]) -> TaskOutput:
        logits = self.head(self.encoder({k: batch[k] for k in _MODEL_INPUTS if k in batch}))  # [N, 2]
        labels = batch["labels"]
        loss = F.cross_entropy(logits, labels)
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == labels).float().mean()
        metrics = {self.metric: float(accuracy), "pairs": float(len(labels)), "tokens": _tokens(batch)}
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
