"""Spec records, factory resolution, paradigm bases and the error types."""

from __future__ import annotations

import dataclasses
import sys

import pytest
import torch
from torch import nn

from sslcore import AdversarialTask, ContrastiveTask, GenerativeTask, Paradigm, PretextTask
from sslcore.encoder import WrappedEncoder, check_encoder_output
from sslcore.errors import AmbiguousNameError, DataNotFoundError, NonFiniteLossError, UnknownNameError
from sslcore.plugins.specs import DatasetSpec, EncoderSpec, TaskSpec, resolve_factory
from tests.toy_tasks import DOMAIN, AutoEncoder, NoisyViewsContrast, ToyGAN, VectorEncoder


def factory(*args, **kwargs):
    return args, kwargs


def task_spec(**overrides) -> TaskSpec:
    fields = dict(name="ae", domain="toy", paradigm=Paradigm.GENERATIVE, factory=factory)
    return TaskSpec(**{**fields, **overrides})


# -- TaskSpec ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["SimCLR", "has space", "", "_lead", "-lead", "a/b", "a:b", None])
def test_spec_rejects_invalid_names(name) -> None:
    with pytest.raises(ValueError, match="name .* is invalid: use lower-case letters"):
        task_spec(name=name)
    with pytest.raises(ValueError, match="name .* is invalid"):
        EncoderSpec(name, domain="toy", factory=factory)
    with pytest.raises(ValueError, match="name .* is invalid"):
        DatasetSpec(name, domain="toy", factory=factory, sample="row")


@pytest.mark.parametrize("name", ["simclr", "bert-mlm", "gpt2.small", "r2_d2", "0x"])
def test_spec_accepts_valid_names(name: str) -> None:
    assert task_spec(name=name).name == name


@pytest.mark.parametrize("domain", ["Vision", "", "two words", None])
def test_spec_rejects_invalid_domain(domain) -> None:
    with pytest.raises(ValueError, match=r"task 'ae': domain .* is invalid"):
        task_spec(domain=domain)
    with pytest.raises(ValueError, match=r"encoder 'e': domain .* is invalid"):
        EncoderSpec("e", domain=domain, factory=factory)


@pytest.mark.parametrize("bad", ["no_colon_here", 42, None])
def test_spec_rejects_a_factory_that_is_neither_callable_nor_module_attr(bad) -> None:
    with pytest.raises(ValueError, match="factory must be a callable or 'module:attr'"):
        task_spec(factory=bad)
    with pytest.raises(ValueError, match="factory must be a callable or 'module:attr'"):
        DatasetSpec("d", domain="toy", factory=bad, sample="row")


def test_task_spec_coerces_paradigm_strings_and_rejects_unknown_ones() -> None:
    spec = task_spec(paradigm="generative-contrastive")
    assert spec.paradigm is Paradigm.ADVERSARIAL
    with pytest.raises(
        ValueError, match=r"paradigm 'adversarial' is not one of \['generative', 'contrastive'"
    ):
        task_spec(paradigm="adversarial")


def test_task_spec_validates_taxonomy_facts() -> None:
    with pytest.raises(ValueError, match="family 'instance' not in"):
        task_spec(family="instance")
    with pytest.raises(ValueError, match="negatives 'queue' not in"):
        task_spec(negatives="queue")
    with pytest.raises(ValueError, match="a contrastive task must declare its family"):
        task_spec(paradigm=Paradigm.CONTRASTIVE)
    ok = task_spec(paradigm="contrastive", family="context-instance", negatives="memory-bank")
    assert (ok.paradigm, ok.family, ok.negatives) == (Paradigm.CONTRASTIVE, "context-instance", "memory-bank")


def test_task_spec_rejects_a_non_string_summary() -> None:
    with pytest.raises(ValueError, match="summary must be a string"):
        task_spec(summary=["not", "a", "string"])


def test_specs_are_frozen() -> None:
    spec = task_spec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    ds = DatasetSpec("d", domain="toy", factory=factory, sample="row")
    assert ds.needs_root is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.needs_root = False  # type: ignore[misc]


# -- resolve_factory -------------------------------------------------------------------
def test_resolve_factory_returns_callables_unchanged() -> None:
    assert resolve_factory(factory) is factory


def test_resolve_factory_imports_module_attr_lazily(tmp_path, monkeypatch) -> None:
    (tmp_path / "lazy_specs_mod.py").write_text(
        "class Outer:\n    class Inner:\n        pass\n\ndef build():\n    return 'built'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = task_spec(factory="lazy_specs_mod:build")
    assert "lazy_specs_mod" not in sys.modules  # creating the spec does not import
    try:
        assert resolve_factory(spec.factory)() == "built"
        inner = resolve_factory("lazy_specs_mod:Outer.Inner")
        assert inner is sys.modules["lazy_specs_mod"].Outer.Inner
        with pytest.raises(AttributeError):
            resolve_factory("lazy_specs_mod:missing")
    finally:
        sys.modules.pop("lazy_specs_mod", None)
    with pytest.raises(ModuleNotFoundError):
        resolve_factory("no_such_module_for_sslcore_tests:x")


# -- paradigm bases ----------------------------------------------------------------------
def test_paradigm_bases_declare_their_paradigm_and_taxonomy() -> None:
    assert str(Paradigm.ADVERSARIAL) == "generative-contrastive"
    assert AutoEncoder.paradigm is Paradigm.GENERATIVE
    assert NoisyViewsContrast.paradigm is Paradigm.CONTRASTIVE
    assert ToyGAN.paradigm is Paradigm.ADVERSARIAL
    assert ContrastiveTask.min_batch_size == 2 and GenerativeTask.min_batch_size == 1
    assert NoisyViewsContrast.taxonomy() == {
        "paradigm": "contrastive",
        "domain": DOMAIN,
        "signal": "noisy views",
        "family": "instance-instance",
        "negatives": "end-to-end",
    }
    assert AutoEncoder.taxonomy()["family"] == "-"
    with pytest.raises(TypeError):
        PretextTask(nn.Identity())  # type: ignore[abstract]


def test_adversarial_task_splits_generator_and_discriminator_parameters() -> None:
    gan = ToyGAN(VectorEncoder())
    disc = {id(p) for p in gan.discriminator.parameters()}
    gen = {id(p) for p in gan.generator_parameters()}
    assert {id(p) for p in gan.discriminator_parameters()} == disc
    assert gen.isdisjoint(disc)
    assert gen | disc == {id(p) for p in gan.parameters()}
    assert {id(p) for p in [*gan.decoder.parameters(), *gan.encoder.parameters()]} <= gen


def test_adversarial_task_rejects_unknown_schedule_and_missing_steps() -> None:
    with pytest.raises(ValueError, match=r"schedule must be one of \('joint', 'alternating'\), got 'gan'"):
        ToyGAN(VectorEncoder(), schedule="gan")

    class Bare(AdversarialTask):
        domain = DOMAIN

    bare = Bare(VectorEncoder(), nn.Linear(4, 1), schedule="alternating")
    with pytest.raises(NotImplementedError, match="Bare has no alternating generator step"):
        bare({})
    with pytest.raises(NotImplementedError, match="Bare has no alternating discriminator step"):
        bare.discriminator_loss({})
    with pytest.raises(NotImplementedError, match="must implement forward"):
        Bare(VectorEncoder(), nn.Linear(4, 1))({})


def test_default_embed_and_collate() -> None:
    task = AutoEncoder(VectorEncoder())
    x = torch.randn(3, 8)
    torch.testing.assert_close(task.embed(x), task.encoder(x))
    batch = task.collate([torch.ones(8), torch.zeros(8)])
    assert batch.shape == (2, 8)


# -- encoder contract ----------------------------------------------------------------
def test_wrapped_encoder_contract() -> None:
    enc = WrappedEncoder(nn.Linear(3, 5), output_dim=5)
    assert enc(torch.randn(2, 3)).shape == (2, 5)
    for bad in (0, -1, 2.0, "5"):
        with pytest.raises(ValueError, match="output_dim must be a positive int"):
            WrappedEncoder(nn.Identity(), output_dim=bad)  # type: ignore[arg-type]
    check_encoder_output(enc, torch.zeros(4, 5), 4)
    with pytest.raises(ValueError, match=r"returned shape \(4, 6\); expected \[4, 5\]"):
        check_encoder_output(enc, torch.zeros(4, 6), 4)
    with pytest.raises(ValueError, match=r"returned shape \(3, 5\); expected \[4, 5\]"):
        check_encoder_output(enc, torch.zeros(3, 5), 4)
    with pytest.raises(TypeError, match="no integer output_dim"):
        check_encoder_output(nn.Identity(), torch.zeros(4, 5), 4)


# -- error messages ---------------------------------------------------------------------
def test_unknown_name_error_suggests_and_lists_choices() -> None:
    err = UnknownNameError("task", "simclrr", ["simclr", "byol", "simclr"])
    assert isinstance(err, KeyError)
    assert str(err) == "unknown task 'simclrr'; did you mean 'simclr'? Valid choices: byol, simclr."
    far = UnknownNameError("task", "zzzzzz", ["simclr"])
    assert "did you mean" not in str(far) and "Valid choices: simclr." in str(far)
    empty = UnknownNameError("dataset", "cora", [])
    assert "No dataset is registered: is the plugin that provides it installed?" in str(empty)


def test_ambiguous_name_error_names_both_qualified_forms() -> None:
    err = AmbiguousNameError("task", "x", ["b:x", "a:x"])
    assert isinstance(err, LookupError)
    assert "(a, b)" in str(err) and "a:x or b:x" in str(err)


def test_non_finite_loss_and_data_not_found_messages(tmp_path) -> None:
    err = NonFiniteLossError(17, float("nan"), tmp_path / "step_00000010.pt")
    assert err.step == 17 and "at step 17" in str(err) and "step_00000010.pt" in str(err)
    assert "no checkpoint had been written yet" in str(NonFiniteLossError(3, float("inf"), None))
    missing = DataNotFoundError("cora", tmp_path, ["a.txt", "b.txt"], hint="see docs")
    assert isinstance(missing, FileNotFoundError)
    assert str(missing).endswith("a.txt\n  b.txt\nsee docs") and str(tmp_path) in str(missing)
