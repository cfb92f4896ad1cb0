"""BERT's masking statistics as produced by ``MaskedLanguageModeling.collate``."""

import pytest
import torch

from sslcore.data import DatasetBundle
from sslcore_nlp.encoders.bert import bert
from sslcore_nlp.tasks.mlm import IGNORE, MaskedLanguageModeling


def _masked(
    bundle: DatasetBundle, count: int = 400, **options: float
) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Masked batch of ``count`` texts of different lengths, the padded original ids and
    the special-or-padding mask."""
    tok = bundle.info["tokenizer"]
    task = MaskedLanguageModeling.from_data(bert(bundle.info), bundle.info, **options)
    samples = [inputs for inputs, _ in bundle.evaluation.dataset[:count]]
    original = tok.pad(samples, return_tensors="pt")["input_ids"]
    torch.manual_seed(0)
    batch = task.collate(samples)
    special = torch.isin(original, torch.tensor(tok.all_special_ids))
    return batch, original, special


def test_selection_and_80_10_10_replacement(pydocs_bundle: DatasetBundle) -> None:
    mask_id = pydocs_bundle.info["tokenizer"].mask_token_id
    batch, original, special = _masked(pydocs_bundle, count=1200)
    selected = batch["labels"] != IGNORE
    assert (~special).sum() > 20_000  # enough tokens for the tolerances below
    assert selected[~special].float().mean().item() == pytest.approx(0.15, abs=0.01)
    ids = batch["input_ids"][selected]
    as_mask = ids == mask_id
    unchanged = ids == original[selected]
    random = ~as_mask & ~unchanged
    assert as_mask.float().mean().item() == pytest.approx(0.8, abs=0.03)
    assert random.float().mean().item() == pytest.approx(0.1, abs=0.025)
    assert unchanged.float().mean().item() == pytest.approx(0.1, abs=0.025)


def test_special_and_padding_tokens_are_never_selected(pydocs_bundle: DatasetBundle) -> None:
    batch, original, special = _masked(pydocs_bundle)
    assert (original == pydocs_bundle.info["tokenizer"].pad_token_id).any()
    assert (batch["labels"][special] == IGNORE).all()
    assert torch.equal(batch["input_ids"][special], original[special])
    assert torch.equal(
        batch["attention_mask"].bool(), original != pydocs_bundle.info["tokenizer"].pad_token_id
    )


def test_labels_hold_original_ids_where_predicted_and_ignore_elsewhere(pydocs_bundle: DatasetBundle) -> None:
    batch, original, _ = _masked(pydocs_bundle)
    selected = batch["labels"] != IGNORE
    assert torch.equal(batch["labels"][selected], original[selected])
    assert torch.equal(batch["input_ids"][~selected], original[~selected])


def test_mask_prob_option(pydocs_bundle: DatasetBundle) -> None:
    batch, _, special = _masked(pydocs_bundle, mask_prob=0.4, mask_replace_prob=1.0, random_replace_prob=0.0)
    selected = batch["labels"] != IGNORE
    assert selected[~special].float().mean().item() == pytest.approx(0.4, abs=0.02)
    assert (batch["input_ids"][selected] == pydocs_bundle.info["tokenizer"].mask_token_id).all()
