"""The fine-tuning protocol: it trains the encoder (not only a head), on a copy, selects
(learning rate, epoch) on the selection rows only, cross-validates without splits, handles
single-item (transductive) data, and rejects bad options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from sslcore.data import EvalSet
from sslcore.errors import ConfigError
from sslcore.evaluation import extract_embeddings, finetune, get_protocol, is_task_protocol, linear_probe
from sslcore.io import read_json
from sslcore.runs import evaluate, pretrain
from tests.test_runs import TRAIN, registry  # noqa: F401  (fixture)
from tests.toy_tasks import DIM, AutoEncoder, VectorEncoder

FAST = {"lrs": [0.05], "epochs": 15, "batch_size": 16, "warmup": 0.0}


def blind_task(seed: int = 0) -> AutoEncoder:
    """A toy task whose encoder ignores input 0 (zero weights on it): the label below is
    invisible to its frozen embeddings, learnable once the encoder is trained."""
    torch.manual_seed(seed)
    task = AutoEncoder(VectorEncoder(DIM, 4))
    with torch.no_grad():
        task.encoder.linear.weight[:, 0] = 0.0
    return task


def sign_data(n: int = 240, seed: int = 0, flip: np.ndarray | None = None) -> list[tuple[Tensor, int]]:
    """Vectors with label ``x_0 > 0`` (inverted on the rows in ``flip``)."""
    x = torch.randn(n, DIM, generator=torch.Generator().manual_seed(seed))
    labels = (x[:, 0] > 0).long()
    if flip is not None:
        labels[flip] = 1 - labels[flip]
    return [(x[i], int(labels[i])) for i in range(n)]


def thirds(n: int) -> dict[str, np.ndarray]:
    rows = np.arange(n)
    return {"train": rows[: n // 2], "val": rows[n // 2 : 3 * n // 4], "test": rows[3 * n // 4 :]}


def test_finetune_trains_the_encoder_beyond_what_the_frozen_probe_sees() -> None:
    data = sign_data()
    evalset = EvalSet(data, thirds(len(data)), batch_size=64, num_classes=2)
    task = blind_task()
    X, y = extract_embeddings(task, evalset)
    frozen = linear_probe(X, y, evalset.splits)
    tuned = finetune(task, evalset, **FAST)
    assert frozen.test_accuracy < 0.7  # input 0 is invisible to the frozen encoder
    assert tuned.protocol == "finetune" and tuned.test_accuracy > 0.85
    assert tuned.selected["lr"] == 0.05 and 1 <= tuned.selected["epoch"] <= 15
    assert (tuned.num_train, tuned.num_test) == (120, 60)


def test_finetune_works_on_a_copy_and_restores_the_mode() -> None:
    data = sign_data(120)
    task = blind_task()
    task.train()
    before = {k: v.clone() for k, v in task.state_dict().items()}
    finetune(task, EvalSet(data, thirds(len(data)), num_classes=2), **FAST)
    assert task.training
    assert all(torch.equal(before[k], v) for k, v in task.state_dict().items())
    assert float(task.encoder.linear.weight[:, 0].detach().abs().sum()) == 0.0


def test_finetune_selects_on_val_and_never_trains_or_selects_on_test() -> None:
    n = 240
    splits = thirds(n)
    data = sign_data(n, flip=splits["test"])  # test labels are the opposite rule
    evalset = EvalSet(data, splits, num_classes=2)
    result = finetune(blind_task(), evalset, **{**FAST, "lrs": [1e-9, 0.05]})
    assert result.selected["lr"] == 0.05  # 1e-9 leaves the encoder blind: chance on val
    assert result.selection_accuracy > 0.9
    assert result.test_accuracy < 0.1  # learnt from train, chosen on val: wrong on the flipped test


def test_finetune_without_val_selects_on_a_part_of_train() -> None:
    n = 200
    data = sign_data(n)
    rows = np.arange(n)
    result = finetune(blind_task(), EvalSet(data, {"train": rows[:150], "test": rows[150:]}), **FAST)
    assert result.num_train == 135 and result.num_test == 50  # 10 % of train held out to select
    assert result.test_accuracy > 0.9


def test_finetune_cross_validates_without_splits() -> None:
    data = sign_data(150)
    result = finetune(blind_task(), EvalSet(data, None, num_classes=2), folds=3, **FAST)
    assert result.num_test == 150 and result.test_std is not None
    assert result.test_accuracy > 0.85


class WholeSet(torch.utils.data.Dataset):
    """One item holding every row (a transductive graph's shape): ``(x [N, DIM], y [N])``."""

    def __init__(self, data: list[tuple[Tensor, int]]):
        self.x = torch.stack([x for x, _ in data])
        self.y = torch.tensor([label for _, label in data])

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.x, self.y


def test_finetune_a_single_item_set_full_batch_on_the_fitting_rows() -> None:
    n = 240
    splits = thirds(n)
    data = sign_data(n, flip=splits["test"])
    evalset = EvalSet(WholeSet(data), splits, collate=lambda items: items[0], num_classes=2)
    result = finetune(blind_task(), evalset, **{**FAST, "epochs": 150})
    assert result.selection_accuracy > 0.9 and result.test_accuracy < 0.1
    assert result.num_train == 120


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lrs": []}, "lrs"),
        ({"lrs": [0.0]}, "lrs"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"folds": 1}, "folds"),
        ({"warmup": 1.0}, "warmup"),
        ({"layer_decay": 0.0}, r"layer_decay must be in \(0, 1\], got 0.0"),
        ({"layer_decay": 1.5}, r"layer_decay must be in \(0, 1\], got 1.5"),
    ],
)
def test_finetune_rejects_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        finetune(blind_task(), EvalSet(sign_data(20), None), **options)


def test_finetune_errors_on_empty_data_and_diverging_loss() -> None:
    with pytest.raises(ValueError, match="empty"):
        finetune(blind_task(), EvalSet([], None))
    data = sign_data(64)
    with pytest.raises(ValueError, match="smaller learning rates"):
        finetune(blind_task(), EvalSet(data, thirds(64)), lrs=[1e30], epochs=3, warmup=0.0)


def test_finetune_is_a_registered_task_protocol() -> None:
    assert get_protocol("finetune") is finetune and is_task_protocol("finetune")
    assert not is_task_protocol("linear")


def test_evaluate_a_run_with_finetune_and_its_options(registry, tmp_path: Path) -> None:  # noqa: F811
    run = tmp_path / "run"
    pretrain("ae", "vecs", output=run, registry=registry, **TRAIN)
    record = evaluate(run, "finetune", registry=registry, device="cpu", lrs=[0.01, 0.05], epochs=2)
    assert record["protocol"] == "finetune" and record["selected"]["lr"] in (0.01, 0.05)
    assert record["protocol_options"] == {"lrs": [0.01, 0.05], "epochs": 2}
    assert read_json(run / "eval_finetune.json")["test_accuracy"] == record["test_accuracy"]
    with pytest.raises(
        ConfigError, match=r"no option epoch; did you mean 'epochs'\? Its options: lrs, epochs"
    ):
        evaluate(run, "finetune", registry=registry, device="cpu", epoch=2)


# -- layer-wise learning-rate decay -----------------------------------------------------------------------
class LayeredEncoder(nn.Module):
    """A toy encoder that numbers its layers like a ViT: ``embed`` and ``pos_embed`` are
    layer 0, ``blocks.i`` layer ``i + 1``, the final ``norm`` layer ``num_layers``;
    ``no_weight_decay()`` names ``pos_embed`` (timm's convention)."""

    num_layers = 3

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(DIM, 6)
        self.pos_embed = nn.Parameter(torch.zeros(1, 6))
        self.blocks = nn.ModuleList(nn.Linear(6, 6) for _ in range(self.num_layers))
        self.norm = nn.LayerNorm(6)
        self.output_dim = 6

    def forward(self, x: Tensor) -> Tensor:
        h = self.embed(x) + self.pos_embed
        for block in self.blocks:
            h = h + torch.tanh(block(h))
        return self.norm(h)

    def layer_id(self, name: str) -> int:
        if name.startswith(("embed.", "pos_embed")):
            return 0
        if name.startswith("blocks."):
            return int(name.split(".")[1]) + 1
        return self.num_layers

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed"}


def first_step_groups(task: AutoEncoder, **options) -> list[dict]:
    """The fine-tuning optimiser's groups (``lr``, ``weight_decay``, parameter ids) at its first step."""
    seen: list[list[dict]] = []

    def pre(opt, args, kwargs):
        if not seen:
            seen.append([{**g, "params": [id(p) for p in g["params"]]} for g in opt.param_groups])

    handle = register_optimizer_step_pre_hook(pre)
    try:
        data = sign_data(64)
        finetune(task, EvalSet(data, thirds(64), num_classes=2), **options)
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize("decay", [0.5, 0.75, 1.0])
def test_layer_decay_gives_each_layer_lr_times_decay_to_the_depth_above_it(decay: float) -> None:
    torch.manual_seed(0)
    task = AutoEncoder(LayeredEncoder())
    encoder, lr, top = task.encoder, 0.05, LayeredEncoder.num_layers + 1
    groups = first_step_groups(task, lrs=[lr], epochs=1, batch_size=16, warmup=0.0, layer_decay=decay)
    lr_of = {pid: g["lr"] for g in groups for pid in g["params"]}
    wd_of = {pid: g["weight_decay"] for g in groups for pid in g["params"]}
    assert len(lr_of) == sum(len(g["params"]) for g in groups)  # each parameter once
    for name, p in encoder.named_parameters():
        expected = lr * decay ** (top - encoder.layer_id(name))
        assert lr_of[id(p)] == pytest.approx(expected, rel=1e-12), name
    assert lr_of[id(encoder.blocks[0].weight)] == pytest.approx(lr * decay**3)
    assert lr_of[id(encoder.embed.weight)] == pytest.approx(lr * decay**4)
    # the task's decoder and the linear head (the parameters not in the task) are layer L + 1: lr
    task_ids = {id(p) for p in task.parameters()}
    head = [pid for pid in lr_of if pid not in task_ids]
    assert len(head) == 2 and all(lr_of[pid] == pytest.approx(lr) for pid in head)
    assert all(lr_of[id(p)] == pytest.approx(lr) for p in task.decoder.parameters())
    # weight decay: not on pos_embed (no_weight_decay()), biases and norms
    assert wd_of[id(encoder.pos_embed)] == 0.0 and wd_of[id(encoder.embed.bias)] == 0.0
    assert wd_of[id(encoder.norm.weight)] == 0.0 and wd_of[id(encoder.embed.weight)] == 0.01


def test_layer_decay_leaves_the_task_as_it_was_and_trains() -> None:
    torch.manual_seed(0)
    task = AutoEncoder(LayeredEncoder())
    before = {k: v.clone() for k, v in task.state_dict().items()}
    data = sign_data(160)
    result = finetune(task, EvalSet(data, thirds(160), num_classes=2), **{**FAST, "layer_decay": 0.65})
    assert result.test_accuracy > 0.8
    assert all(torch.equal(before[k], v) for k, v in task.state_dict().items())


def test_layer_decay_needs_an_encoder_with_layer_ids() -> None:
    with pytest.raises(
        ConfigError, match=r"layer_decay < 1 needs the encoder's layers, but VectorEncoder has no num_layers"
    ):
        finetune(blind_task(), EvalSet(sign_data(20), None), layer_decay=0.75)
    finetune(blind_task(), EvalSet(sign_data(40), None), folds=2, epochs=1, layer_decay=1.0)  # no decay: fine


def test_a_layer_id_outside_the_range_is_a_config_error() -> None:
    class Wrong(LayeredEncoder):
        def layer_id(self, name: str) -> int:
            return self.num_layers + 1

    with pytest.raises(ConfigError, match=r"Wrong.layer_id\('pos_embed'\) is 4, outside 0..num_layers \(3\)"):
        finetune(AutoEncoder(Wrong()), EvalSet(sign_data(40), thirds(40)), layer_decay=0.5, epochs=1)


def test_layer_decay_is_an_option_of_evaluate(registry, tmp_path: Path) -> None:  # noqa: F811
    run = tmp_path / "run"
    pretrain("ae", "vecs", output=run, registry=registry, **TRAIN)
    with pytest.raises(ConfigError, match="VectorEncoder has no num_layers"):
        evaluate(run, "finetune", registry=registry, device="cpu", epochs=1, layer_decay=0.5)
    with pytest.raises(ConfigError, match="layer_decay"):
        evaluate(run, "finetune", registry=registry, device="cpu", epochs=1, layer_decay=2.0)
    record = evaluate(run, "finetune", registry=registry, device="cpu", epochs=1, layer_decay=1.0)
    assert record["protocol_options"] == {"epochs": 1, "layer_decay": 1.0}
