"""Export a pretrained encoder with its tokenizer as a ``transformers`` directory
(``save_pretrained``), to continue pretraining from it (the ``pretrained=<dir>`` encoder
option, with ``--dataset-opt tokenizer=<dir>``) or to use it with ``transformers``
directly (``AutoModel.from_pretrained(dir)``, ``AutoTokenizer.from_pretrained(dir)``).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from sslcore.plugins import Registry


def save_pretrained(
    task_or_encoder: nn.Module, tokenizer: PreTrainedTokenizerBase, out_dir: str | Path
) -> Path:
    """Write the encoder's transformers model (a task's ``.encoder``, e.g. ELECTRA's
    discriminator; heads and generators are left out) and ``tokenizer`` to ``out_dir``."""
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
    tokenizer.save_pretrained(str(out))
    return out


def export_run(
    run_dir: str | Path,
    out_dir: str | Path,
    data_root: str | Path | None = None,
    registry: Registry | None = None,
) -> Path:
    """:func:`save_pretrained` of a run folder's latest checkpoint and its dataset's tokenizer."""
    from sslcore.runs import load_run

    task, bundle, _ = load_run(run_dir, data_root=data_root, registry=registry)
    return save_pretrained(task, bundle.info["tokenizer"], out_dir)
