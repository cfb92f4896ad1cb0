from collections.abc import Callable

import pytest
import torch

from sslcore.build import build_task
from sslcore.contrast import info_nce
from sslcore.data import DatasetBundle
from sslcore.errors import ConfigError
from sslcore.paradigms import PretextTask
from sslcore.plugins import Registry
from sslcore.testing.steps import train_steps

TASKS = ("simcse", "sop", "nsp")


@pytest.fixture
def make_task(
    registry: Registry, pydocs_bundle: DatasetBundle, small_bert: Callable
) -> Callable[..., PretextTask]:
    """The registered task around a 1-layer, 32-wide BERT."""

    def make(name: str, dropout: float = 0.1, seed: int = 0, **options: object) -> PretextTask:
        torch.manual_seed(seed)
        return build_task(name, pydocs_bundle, small_bert(32, dropout), options, registry=registry)

    return make


@pytest.mark.parametrize(
    ("name", "steps", "lr"), [("simcse", 15, 3e-3), ("sop", 30, 3e-3), ("nsp", 30, 3e-3)]
)
def test_a_few_steps_lower_the_loss(
    name: str, steps: int, lr: float, make_task: Callable, pydocs_bundle: DatasetBundle
) -> None:
    task = make_task(name)
    torch.manual_seed(1)
    batch = task.collate(list(pydocs_bundle.pretrain[:16]))  # one fixed batch (pairs, or sentences)

    def loss() -> float:
        torch.manual_seed(2)  # the same dropout masks before and after
        with torch.no_grad():
            return task(batch).loss.item()

    task.train()
    before = loss()
    train_steps(lambda _: task(batch), task, steps, lr, torch.optim.AdamW)
    assert loss() < 0.7 * before
    metrics = task(batch).metrics
    assert all(0.0 <= v <= 1.0 for k, v in metrics.items() if k.endswith(("accuracy", "top1")))


def test_simcse_two_dropout_views_differ(make_task: Callable, pydocs_bundle: DatasetBundle) -> None:
    task = make_task("simcse").train()
    batch = task.collate(list(pydocs_bundle.pretrain[:8]))
    first, second = task.project(batch), task.project(batch)
    assert first.shape == (8, 32) and not torch.allclose(first, second)
    task.eval()
    torch.testing.assert_close(task.project(batch), task.project(batch))


def test_simcse_without_dropout_is_the_kernel_on_identical_views(
    make_task: Callable, pydocs_bundle: DatasetBundle
) -> None:
    with pytest.warns(UserWarning, match="simcse: the encoder has no dropout"):
        task = make_task("simcse", dropout=0.0).train()
    batch = task.collate(list(pydocs_bundle.pretrain[:8]))
    z = task.project(batch)
    out = task(batch)
    torch.testing.assert_close(out.loss, info_nce(z, z, temperature=0.05), rtol=1e-5, atol=1e-5)
    assert task.temperature == 0.05 and out.metrics["positive_cosine"] == pytest.approx(1.0, abs=1e-5)


def test_simcse_collate_takes_one_sentence_per_sample(
    make_task: Callable, pydocs_bundle: DatasetBundle
) -> None:
    tok = pydocs_bundle.info["tokenizer"]
    sentence_task, sample_task = make_task("simcse"), make_task("simcse", segment="sample", max_length=64)
    samples = list(pydocs_bundle.pretrain[:12])
    sentences, whole = sentence_task.collate(samples), sample_task.collate(samples)
    assert sentences["input_ids"].shape[0] == 12 and sentences["input_ids"].shape[1] <= 32
    for row, sample in zip(sentences["input_ids"].tolist(), samples):
        ids = [t for t in row if t != tok.pad_token_id]
        content = sample["input_ids"][1:-1]
        assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
        inner = ids[1:-1]
        assert any(content[i : i + len(inner)] == inner for i in range(len(content)))  # a piece of the sample
    assert [[t for t in r if t != tok.pad_token_id] for r in whole["input_ids"].tolist()] == [
        s["input_ids"] for s in samples
    ]
    with pytest.raises(ConfigError, match="segment must be one of sentence, sample"):
        make_task("simcse", segment="word")


@pytest.mark.parametrize("name", TASKS)
def test_embed_is_the_pooled_vector(name: str, make_task: Callable, pydocs_bundle: DatasetBundle) -> None:
    task = make_task(name).eval()
    inputs, labels = pydocs_bundle.evaluation.collate([pydocs_bundle.evaluation.dataset[i] for i in range(5)])
    z = task.embed(inputs)
    assert z.shape == (5, 32) and labels.shape == (5,)
    torch.testing.assert_close(z, task.encoder(inputs))


def test_pair_tasks_refuse_pairs_longer_than_the_position_table(make_task: Callable) -> None:
    with pytest.raises(ConfigError, match=r"max_length must be in \[5, 64\]"):
        make_task("sop", max_length=65)
