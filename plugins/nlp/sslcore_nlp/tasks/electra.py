"""ELECTRA replaced-token detection (Clark et al. 2020, "ELECTRA: Pre-training Text
Encoders as Discriminators Rather Than Generators"; google-research/electra).

A set ``M`` of 15 % of the tokens is masked; a small generator ``G``
(:func:`small_generator`, sharing the encoder's embedding module) is trained with MLM on
``M``, and a token is sampled at each masked position, ``x^_i = argmax_v(log p_G(v | x~)_i
+ g_v)``, ``g_v ~ Gumbel(0, 1)``, with no gradient. The discriminator ``D`` (the encoder
plus ``ElectraDiscriminatorPredictions``) predicts for every non-padding token whether it
was replaced, ``y_i = 1[x^_i != x_i]``. With ``P`` the non-padding positions, one joint
update of

``L = L_MLM + lambda L_D``, ``L_MLM = -1/|M| sum_{i in M} log p_G(x_i | x~)_i``,
``L_D = -1/|P| sum_{i in P} [y_i log sigma(D_i) + (1 - y_i) log(1 - sigma(D_i))]``,

``lambda = 50``. Masking, generator size and sharing: ``plugins/nlp/README.md``, "electra".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from annotated_types import Ge, Gt, Interval
from torch import Tensor, nn
from transformers import ElectraConfig, ElectraForMaskedLM, PreTrainedTokenizerBase
from transformers.models.electra.modeling_electra import ElectraDiscriminatorPredictions

from sslcore.data import info_get
from sslcore.errors import ConfigError
from sslcore.paradigms import AdversarialTask, TaskOutput
from sslcore_nlp.encoders.transformer import MODEL_INPUTS
from sslcore_nlp.masking import IGNORE, make_masking


def small_generator(encoder: nn.Module, size: float = 0.25, layers: float = 1.0) -> ElectraForMaskedLM:
    """ELECTRA's generator for the discriminator ``encoder`` (a transformers BERT/ELECTRA
    model in ``encoder.model``): hidden size ``round(size * d)``, ``max(1, hidden // 64)``
    heads, FFN ``4 * hidden``, ``round(layers * L)`` layers (the reference code's
    ``get_generator_config``), sharing ``encoder.model.embeddings``."""
    model = getattr(encoder, "model", None)
    embeddings = getattr(model, "embeddings", None)
    if embeddings is None or not hasattr(embeddings, "word_embeddings"):
        raise ConfigError(
            f"electra shares the token embeddings of the encoder, but {type(encoder).__name__} has no "
            "transformers model with `.embeddings` in `.model` (use the 'electra' or 'bert' encoder)"
        )
    config = model.config
    hidden = max(1, round(config.hidden_size * size))
    generator = ElectraForMaskedLM(
        ElectraConfig(
            vocab_size=config.vocab_size,
            embedding_size=embeddings.word_embeddings.weight.shape[1],
            hidden_size=hidden,
            num_hidden_layers=max(1, round(config.num_hidden_layers * layers)),
            num_attention_heads=max(1, hidden // 64),
            intermediate_size=4 * hidden,
            hidden_act=config.hidden_act,
            hidden_dropout_prob=config.hidden_dropout_prob,
            attention_probs_dropout_prob=config.attention_probs_dropout_prob,
            max_position_embeddings=config.max_position_embeddings,
            type_vocab_size=config.type_vocab_size,
            layer_norm_eps=config.layer_norm_eps,
            pad_token_id=config.pad_token_id,
            use_cache=False,
        )
    )
    generator.electra.embeddings = embeddings  # shared module: one set of parameters
    generator.generator_lm_head.weight = embeddings.word_embeddings.weight
    return generator


def gumbel_max(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """One sample per row of ``[M, V]`` logits: ``argmax(logits / T + g)``, ``g ~
    Gumbel(0, 1)`` (the reference's ``sample_from_softmax``); no gradient."""
    with torch.no_grad():
        uniform = torch.rand_like(logits, dtype=torch.float32)
        gumbel = -torch.log(-torch.log(uniform + 1e-9) + 1e-9)
        return (logits.detach().float() / temperature + gumbel).argmax(-1)


@dataclass
class ReplacedTokens:
    """One ELECTRA step: ``original / corrupted / replaced / masked [B, L]``, the
    generator's ``logits [M, V]`` and ``sampled [M]`` at the masked positions, the
    discriminator's ``disc_logits [B, L]`` and the two losses."""

    original: Tensor
    corrupted: Tensor
    masked: Tensor
    replaced: Tensor
    logits: Tensor
    sampled: Tensor
    disc_logits: Tensor
    mlm_loss: Tensor
    disc_loss: Tensor


class Electra(AdversarialTask):
    """Batch (from :meth:`collate`): ``input_ids`` (masked) ``/ attention_mask / labels
    [B, L]``, labels the original ids on ``M`` and ``-100`` elsewhere. ``embed`` is the
    discriminator encoder's pooled vector ``[B, output_dim]``; the generator is
    pretraining-only."""

    domain = "nlp"
    signal = "replaced tokens"

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        generator_size: Annotated[float, Interval(gt=0, le=1)] = 0.25,
        generator_layers: Annotated[float, Interval(gt=0, le=1)] = 1.0,
        disc_weight: Annotated[float, Ge(0)] = 50.0,
        mask_prob: Annotated[float, Interval(gt=0, lt=1)] = 0.15,
        mask_replace_prob: Annotated[float, Interval(ge=0, le=1)] = 0.85,
        temperature: Annotated[float, Gt(0)] = 1.0,
    ):
        if not (0.0 < generator_size <= 1.0) or not (0.0 < generator_layers <= 1.0):
            raise ConfigError("electra: generator_size and generator_layers must be in (0, 1]")
        if temperature <= 0:
            raise ConfigError(f"electra: temperature must be positive, got {temperature}")
        generator = small_generator(encoder, generator_size, generator_layers)
        super().__init__(encoder, ElectraDiscriminatorPredictions(encoder.model.config), schedule="joint")
        self.generator = generator
        self.disc_weight = disc_weight
        self.temperature = temperature
        self.masking = make_masking(tokenizer, "token", mask_prob, mask_replace_prob, 0.0)

    @classmethod
    def from_data(cls, encoder: nn.Module, info: Mapping[str, Any], **options: Any) -> Electra:
        return cls(encoder, info_get(info, "tokenizer", " (electra needs a text dataset)"), **options)

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        """The encoder (with the shared embeddings) and the replaced-token head."""
        yield from self.encoder.parameters()
        yield from self.discriminator.parameters()

    def collate(self, samples: list[Mapping[str, list[int]]]) -> dict[str, Tensor]:
        return dict(self.masking([{"input_ids": s["input_ids"]} for s in samples]))

    def step(self, batch: Mapping[str, Tensor]) -> ReplacedTokens:
        """Generator MLM, Gumbel-max sampling, replaced-token detection."""
        inputs = {k: batch[k] for k in MODEL_INPUTS if k in batch}
        labels = batch["labels"]
        masked = labels != IGNORE
        original = torch.where(masked, labels, batch["input_ids"])
        states = self.generator.electra(**inputs).last_hidden_state  # [B, L, h]
        logits = self.generator.generator_lm_head(self.generator.generator_predictions(states[masked]))
        mlm_loss = F.cross_entropy(logits, labels[masked]) if masked.any() else states.sum() * 0.0
        sampled = gumbel_max(logits, self.temperature)  # [M], no gradient
        corrupted = original.clone()
        corrupted[masked] = sampled
        replaced = corrupted != original
        disc_logits = self.discriminator(
            self.encoder.token_states({**inputs, "input_ids": corrupted})
        )  # [B, L]
        real = inputs.get("attention_mask", torch.ones_like(original)).bool()
        disc_loss = F.binary_cross_entropy_with_logits(
            disc_logits[real], replaced[real].to(disc_logits.dtype)
        )
        return ReplacedTokens(
            original, corrupted, masked, replaced, logits, sampled, disc_logits, mlm_loss, disc_loss
        )

    def forward(self, batch: Mapping[str, Tensor]) -> TaskOutput:
        out = self.step(batch)
        loss = out.mlm_loss + self.disc_weight * out.disc_loss
        with torch.no_grad():
            real = batch["attention_mask"].bool()
            predicted = out.disc_logits > 0
            rate = out.replaced[real].float().mean()  # p
            base_rate_loss = F.binary_cross_entropy(rate, rate)  # H(p): the best constant guess's loss
            metrics = {
                "mlm_loss": out.mlm_loss.detach(),
                "mlm_accuracy": (out.logits.argmax(-1) == out.original[out.masked]).float().mean()
                if out.masked.any()
                else 0.0,
                "replaced_fraction": rate,
                "disc_loss": out.disc_loss.detach(),
                "disc_accuracy": (predicted == out.replaced)[real].float().mean(),
                "disc_gain": (base_rate_loss - out.disc_loss).detach(),
                "tokens": real.sum(),
            }
            if out.replaced.any():
                metrics["disc_recall"] = predicted[out.replaced].float().mean()
        return TaskOutput(loss, metrics)
