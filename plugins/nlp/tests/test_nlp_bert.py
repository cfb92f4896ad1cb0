import pytest
import torch

from sslcore.data import DatasetBundle
from sslcore_nlp.encoders.bert import PRESETS, BertEncoder, bert


@pytest.fixture
def encoder(pydocs_bundle: DatasetBundle) -> BertEncoder:
    torch.manual_seed(0)
    return bert(pydocs_bundle.info).eval()


def _batch(bundle: DatasetBundle, texts: list[str]) -> dict[str, torch.Tensor]:
    return dict(bundle.info["tokenizer"](texts, padding=True, return_tensors="pt"))


def test_tiny_preset_follows_tokenizer_and_max_length(
    encoder: BertEncoder, pydocs_bundle: DatasetBundle
) -> None:
    config = encoder.model.config
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (2, 128, 2)
    assert config.vocab_size == len(pydocs_bundle.info["tokenizer"])
    assert config.max_position_embeddings == pydocs_bundle.info["max_length"]
    assert encoder.output_dim == 128


def test_sentence_vectors_have_contract_shape(encoder: BertEncoder, pydocs_bundle: DatasetBundle) -> None:
    batch = _batch(pydocs_bundle, ["Return the socket.", "Parse a JSON document into Python objects."])
    out = encoder(batch)
    assert out.shape == (2, encoder.output_dim)
    assert torch.isfinite(out).all()
    assert encoder.token_states(batch).shape == (*batch["input_ids"].shape, encoder.output_dim)


def test_padding_does_not_change_mean_pooled_vector(
    encoder: BertEncoder, pydocs_bundle: DatasetBundle
) -> None:
    short = "Return the socket."
    alone = encoder(_batch(pydocs_bundle, [short]))
    padded_batch = _batch(pydocs_bundle, [short, "A much longer sentence " * 6])
    assert (padded_batch["attention_mask"][0] == 0).any()
    torch.testing.assert_close(encoder(padded_batch)[0], alone[0], atol=1e-5, rtol=1e-4)


def test_cls_pooling_takes_first_token_state(pydocs_bundle: DatasetBundle) -> None:
    encoder = bert(pydocs_bundle.info, pooling="cls", dropout=0.0).eval()
    batch = _batch(pydocs_bundle, ["Return the socket.", "Open a file."])
    torch.testing.assert_close(encoder(batch), encoder.token_states(batch)[:, 0])


def test_labels_and_unknown_keys_in_batch_are_ignored(
    encoder: BertEncoder, pydocs_bundle: DatasetBundle
) -> None:
    batch = _batch(pydocs_bundle, ["Return the socket."])
    extended = {**batch, "labels": torch.full_like(batch["input_ids"], -100)}
    torch.testing.assert_close(encoder(extended), encoder(batch))


def test_small_preset_and_bad_options(pydocs_bundle: DatasetBundle) -> None:
    assert bert(pydocs_bundle.info, preset="small").output_dim == PRESETS["small"][1]
    with pytest.raises(ValueError, match="preset"):
        bert(pydocs_bundle.info, preset="huge")
    with pytest.raises(ValueError, match="pooling"):
        bert(pydocs_bundle.info, pooling="max")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="tokenizer"):
        bert({"max_length": 64})
