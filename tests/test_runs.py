"""Run folders through the Python API (``sslcore.runs``) with a user ``nn.Module`` as the
encoder: what config.json records, evaluating with a fresh instance, resuming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sslcore import DatasetBundle, DatasetSpec, EncoderSpec, EvalSet, Paradigm, TaskSpec, hookimpl
from sslcore.errors import ConfigError
from sslcore.io import read_json
from sslcore.plugins import Registry
from sslcore.runs import evaluate, load_run, pretrain
from tests.toy_tasks import DIM, AutoEncoder, VectorEncoder, random_vectors

TRAIN = dict(steps=4, batch_size=8, lr=1e-2, device="cpu", progress_bar=False, checkpoint_every=2)
KNN = dict(ks=(3,))


def labelled_vectors(root: Path | None, n: int = 40, num_test: int = 10) -> DatasetBundle:
    """``n`` random vectors; label = sign of the first entry; 30 train and ``num_test`` test rows."""
    data = random_vectors(n)
    labelled = [(x, int(x[0] > 0)) for x in data]
    splits = {"train": np.arange(30), "test": np.arange(30, 30 + num_test)}
    evaluation = EvalSet(labelled, splits, batch_size=16, num_classes=2)
    return DatasetBundle("vecs", "toy", "row", data, evaluation, info={"dim": DIM})


class RunsPlugin:
    @hookimpl
    def sslcore_register_tasks(self):
        return [TaskSpec("ae", "toy", Paradigm.GENERATIVE, AutoEncoder, default_encoder="vec")]

    @hookimpl
    def sslcore_register_encoders(self):
        return [EncoderSpec("vec", "toy", lambda info: VectorEncoder(info["dim"]))]

    @hookimpl
    def sslcore_register_datasets(self):
        return [DatasetSpec("vecs", "toy", labelled_vectors, "row", needs_root=False)]


@pytest.fixture()
def registry() -> Registry:
    reg = Registry()
    reg.register(RunsPlugin(), "toyruns")
    return reg


def user_encoder(seed: int) -> VectorEncoder:
    torch.manual_seed(seed)
    return VectorEncoder(DIM, 4)


def test_a_user_module_run_is_evaluated_with_a_fresh_instance(registry: Registry, tmp_path: Path) -> None:
    run = tmp_path / "run"
    mine = user_encoder(0)
    pretrain("ae", "vecs", run, encoder=mine, registry=registry, **TRAIN)
    recorded = read_json(run / "config.json")["encoder"]
    assert recorded == {"user_module": "tests.toy_tasks.VectorEncoder", "output_dim": 4}

    fresh = user_encoder(1)  # another init: the weights must come from the checkpoint
    assert not torch.equal(fresh.linear.weight, mine.linear.weight)
    task, bundle, _ = load_run(run, registry=registry, encoder=fresh)
    assert task.encoder is fresh
    x = torch.stack(list(bundle.pretrain))
    with torch.no_grad():
        assert torch.equal(task.embed(x), mine(x))  # `mine` was trained in place

    record = evaluate(run, "knn", registry=registry, encoder=user_encoder(2), **KNN)
    assert record["embedding_dim"] == 4 and 0.0 <= record["test_accuracy"] <= 1.0


def test_a_user_module_run_without_the_module_is_a_clear_error(registry: Registry, tmp_path: Path) -> None:
    run = tmp_path / "run"
    pretrain("ae", "vecs", run, encoder=user_encoder(0), registry=registry, **TRAIN)
    with pytest.raises(
        ConfigError,
        match=r"user encoder module \(tests\.toy_tasks\.VectorEncoder, output_dim=4\).*"
        r"evaluate\('.*run', encoder=VectorEncoder\(\.\.\.\)\)",
    ):
        evaluate(run, "knn", registry=registry, **KNN)
    with pytest.raises(ConfigError, match="'output_dim': 5"):
        load_run(run, registry=registry, encoder=VectorEncoder(DIM, 5))


def test_a_registered_encoder_run_takes_no_module(registry: Registry, tmp_path: Path) -> None:
    run = tmp_path / "run"
    pretrain("ae", "vecs", run, registry=registry, **TRAIN)
    assert read_json(run / "config.json")["encoder"] is None
    with pytest.raises(ConfigError, match="registered encoder .* do not pass encoder="):
        load_run(run, registry=registry, encoder=user_encoder(0))
    assert load_run(run, registry=registry)[0].encoder.output_dim == 4


def test_resume_a_user_module_run(registry: Registry, tmp_path: Path) -> None:
    run = tmp_path / "run"
    mine = user_encoder(0)
    pretrain("ae", "vecs", run, encoder=mine, registry=registry, **TRAIN)
    again = user_encoder(1)
    result = pretrain(
        "ae", "vecs", run, encoder=again, resume=True, registry=registry, **{**TRAIN, "steps": 6}
    )
    assert result.steps == 6
    steps = [int(p.stem.split("_")[1]) for p in (run / "checkpoints").glob("step_*.pt")]
    assert sorted(steps) == [4, 6]
    with pytest.raises(ConfigError, match="encoder differ"):
        pretrain("ae", "vecs", run, encoder="vec", resume=True, registry=registry, **{**TRAIN, "steps": 8})
    with pytest.raises(ConfigError, match="encoder differ"):
        pretrain("ae", "vecs", run, encoder=VectorEncoder(DIM, 5), resume=True, registry=registry, **TRAIN)


def test_evaluate_with_dataset_option_overrides_writes_its_own_record(
    registry: Registry, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    pretrain("ae", "vecs", output=run, registry=registry, **TRAIN)
    default = evaluate(run, "knn", registry=registry, device="cpu", **KNN)
    other = evaluate(run, "knn", registry=registry, device="cpu", dataset_options={"num_test": 4}, **KNN)
    assert (default["num_test"], other["num_test"]) == (10, 4)
    assert read_json(run / "eval_knn_num_test-4.json")["dataset_options"] == {"num_test": 4}
    assert read_json(run / "eval_knn.json")["num_test"] == 10  # the default record is kept
    with pytest.raises(ConfigError, match="num_tset"):
        evaluate(run, "knn", registry=registry, device="cpu", dataset_options={"num_tset": 4}, **KNN)
