import torch

from sslcore.data import DatasetBundle
from sslcore_nlp.data.tokenized import pack_blocks

TEXTS = ["Return the socket.", "Parse a JSON document into Python objects.", "Open a file"] * 7


def test_blocks_hold_every_token_in_order_and_are_full(pydocs_bundle: DatasetBundle) -> None:
    tok = pydocs_bundle.info["tokenizer"]
    blocks = [b["input_ids"] for b in pack_blocks(tok, TEXTS, max_length=16)]
    assert all(b[0] == tok.cls_token_id and b[-1] == tok.sep_token_id for b in blocks)
    assert all(len(b) == 16 for b in blocks[:-1]) and 2 < len(blocks[-1]) <= 16
    stream = [i for b in blocks for i in b[1:-1]]
    assert stream == [i for text in TEXTS for i in tok(text, add_special_tokens=False)["input_ids"]]


def test_evaluation_collate_pads_and_keeps_labels(pydocs_bundle: DatasetBundle) -> None:
    evalset = pydocs_bundle.evaluation
    items = [evalset.dataset[i] for i in range(6)]
    inputs, labels = evalset.collate(items)
    lengths = [len(x["input_ids"]) for x, _ in items]
    assert inputs["input_ids"].shape == (6, max(lengths))
    assert inputs["attention_mask"].sum(1).tolist() == lengths
    assert torch.equal(labels, torch.tensor([y for _, y in items]))
