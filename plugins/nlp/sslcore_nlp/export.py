"""Export a pretrained encoder with its tokenizer as a ``transformers`` directory
(``save_pretrained``), for continued pretraining (``pretrained=<dir>``) or for
``AutoModel`` / ``AutoTokenizer.from_pretrained(dir)``; ``sslcore export <run> <out>``
writes one in ``<out>/transformers`` through :func:`export_extras`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def save_pretrained(
    task_or_encoder: nn.Module, tokenizer: PreTrainedTokenizerBase | None, out_dir: str | Path
) -> Path:
    """Write the encoder's transformers model (a task's ``.encoder``, e.g. ELECTRA's
    discriminator; heads and generators are left out) and ``tokenizer`` (unless ``None``)
    to ``out_dir``."""
    encoder = getattr(task_or_encoder, "encoder", task_or_encoder)
    model = getattr(encoder, "model", None)
    if not isinstance(model, PreTrainedModel):
        raise TypeError(
            f"{type(encoder).__name__} holds no transformers model in `.model`; only the 'bert' and "
            "'electra' encoders can be exported with save_pretrained"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))
    return out


def export_extras(task: nn.Module, info: Mapping[str, Any], out_dir: Path) -> dict[str, Path] | None:
    """The ``sslcore_export_extras`` hook: :func:`save_pretrained` of ``task``'s encoder and
    the dataset's tokenizer to ``out_dir/transformers``, when the encoder holds a
    transformers model."""
    if not isinstance(getattr(task.encoder, "model", None), PreTrainedModel):
        return None
    return {"transformers": save_pretrained(task, info.get("tokenizer"), Path(out_dir) / "transformers")}
