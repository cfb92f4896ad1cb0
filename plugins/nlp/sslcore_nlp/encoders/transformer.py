"""A ``transformers`` model as a sentence encoder: the class shared by the ``bert`` and
``electra`` encoders, and their common builder (presets, causal mask, ``pretrained``).

Pooling over the last hidden states ``H in R^{B x L x d}`` with attention mask ``m``:
``mean``: ``z_b = sum_t m_bt H_bt / sum_t m_bt``; ``cls``: ``z_b = H_b0``;
``last``: ``z_b = H_{b,t*}`` with ``t*`` the last position where ``m_bt = 1`` (for
causal encoders, where only the last state has seen the whole text).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn
from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from sslcore.data import info_get
from sslcore.errors import ConfigError

Pooling = Literal["mean", "cls", "last"]
POOLINGS = ("mean", "cls", "last")
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class TransformerEncoder(nn.Module):
    """``forward(batch) -> [B, output_dim]`` sentence vectors; ``token_states(batch) ->
    [B, L, output_dim]`` per-token states (for MLM / LM / replaced-token heads).

    ``batch`` is the tokenizer's output: ``input_ids [B, L]``, ``attention_mask [B, L]``
    and optionally ``token_type_ids [B, L]``; other keys (e.g. MLM ``labels``) are ignored.
    Subclasses name the transformers model class (``model_class``, built as
    ``model_class(config, **model_options)``); ``model`` passes an already built one.
    """

    model_class: ClassVar[type[PreTrainedModel]]
    model_options: ClassVar[dict[str, Any]] = {}

    def __init__(
        self, config: PretrainedConfig, pooling: Pooling = "mean", model: PreTrainedModel | None = None
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.model = model if model is not None else self.model_class(config, **self.model_options)
        self.pooling = pooling
        self.output_dim: int = self.model.config.hidden_size

    def token_states(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Last-layer hidden states ``[B, L, output_dim]``."""
        inputs = {k: batch[k] for k in MODEL_INPUTS if k in batch}
        return self.model(**inputs).last_hidden_state

    def pool(self, states: Tensor, attention_mask: Tensor) -> Tensor:
        """``[B, L, d]`` states and ``[B, L]`` mask -> ``[B, d]`` sentence vectors."""
        if self.pooling == "cls":
            return states[:, 0]
        if self.pooling == "last":
            positions = torch.arange(states.shape[1], device=states.device)
            last = (attention_mask.bool() * positions).argmax(1)  # last non-padding position
            return states[torch.arange(len(states), device=states.device), last]
        weights = attention_mask.to(states.dtype).unsqueeze(-1)
        return (states * weights).sum(1) / weights.sum(1).clamp_min(1.0)

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        mask = batch.get("attention_mask")
        if mask is None:
            mask = torch.ones_like(batch["input_ids"])
        return self.pool(self.token_states({**batch, "attention_mask": mask}), mask)


def build_transformer_encoder(
    encoder_class: type[TransformerEncoder],
    info: Mapping[str, Any],
    architecture: Mapping[str, int],
    pooling: Pooling,
    dropout: float,
    pretrained: str | None,
) -> TransformerEncoder:
    """Build ``encoder_class`` for the dataset in ``info``: from ``architecture`` (config
    fields of a preset, randomly initialised) or, with ``pretrained``, from a local
    ``save_pretrained`` directory (``local_files_only``; its architecture wins).

    Vocabulary size and pad id come from ``info["tokenizer"]``, position embeddings from
    ``info["max_length"]``. ``info["causal"]`` (set by the ``clm`` task) builds the model
    with ``is_decoder=True``: a causal self-attention mask."""
    name = encoder_class.model_class.config_class.model_type
    tokenizer = info_get(info, "tokenizer", f" (the {name} encoder needs a text dataset)")
    max_length = int(info_get(info, "max_length"))
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    causal = bool(info.get("causal", False))
    if causal and pooling == "cls":
        raise ConfigError(
            "pooling='cls' with a causal encoder: the first state attends only to [CLS] itself, so every "
            "sentence would get the same vector; use pooling='mean' or 'last'"
        )
    common = {
        "hidden_dropout_prob": dropout,
        "attention_probs_dropout_prob": dropout,
        "is_decoder": causal,
        "use_cache": False,
    }
    if pretrained is not None:
        model = load_pretrained_model(encoder_class, pretrained, tokenizer, max_length, **common)
        return encoder_class(model.config, pooling, model=model)
    config = encoder_class.model_class.config_class(
        vocab_size=len(tokenizer),
        max_position_embeddings=max_length,
        pad_token_id=tokenizer.pad_token_id,
        **architecture,
        **common,
    )
    return encoder_class(config, pooling)


def load_pretrained_model(
    encoder_class: type[TransformerEncoder],
    directory: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    **overrides: Any,
) -> PreTrainedModel:
    """``model_class.from_pretrained(directory, local_files_only=True, **overrides)`` after
    checking that the saved model fits the dataset: same model type, the tokenizer's
    vocabulary (size, and the very tokens if a tokenizer is saved alongside), enough
    position embeddings for ``max_length``."""
    path = Path(directory)
    config_class = encoder_class.model_class.config_class
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"pretrained={str(directory)!r} is not a saved model directory (no config.json); "
            "write one with sslcore_nlp.export.save_pretrained or export_run"
        )
    config = config_class.from_pretrained(str(path), local_files_only=True)
    if config.model_type != config_class.model_type:
        raise ConfigError(
            f"pretrained={str(directory)!r} holds a {config.model_type!r} model, not {config_class.model_type!r}; "
            f"use the {config.model_type!r} encoder"
        )
    hint = (
        f"build the dataset with the tokenizer saved with the model (--dataset-opt tokenizer={path}) "
        "so the token ids mean the same tokens"
    )
    if config.vocab_size != len(tokenizer):
        raise ConfigError(
            f"pretrained model {path} has a vocabulary of {config.vocab_size} tokens but the dataset's "
            f"tokenizer has {len(tokenizer)}: {hint}"
        )
    if (path / "tokenizer.json").is_file():
        from sslcore_nlp.tokenizer import load_tokenizer

        if load_tokenizer(path).get_vocab() != tokenizer.get_vocab():
            raise ConfigError(
                f"pretrained model {path} was saved with a different tokenizer than the dataset's "
                f"(both have {len(tokenizer)} tokens, but not the same ones): {hint}"
            )
    else:
        warnings.warn(
            f"pretrained model {path} has no tokenizer.json beside it, so only the vocabulary size "
            f"({config.vocab_size}) could be checked against the dataset's tokenizer; make sure the "
            "token ids mean the same tokens (sslcore_nlp.export.save_pretrained saves both)",
            stacklevel=2,
        )
    if config.max_position_embeddings < max_length:
        raise ConfigError(
            f"pretrained model {path} has {config.max_position_embeddings} position embeddings but the "
            f"dataset's max_length is {max_length}; pass --dataset-opt max_length={config.max_position_embeddings}"
        )
    return encoder_class.model_class.from_pretrained(
        str(path), local_files_only=True, **encoder_class.model_options, **overrides
    )
