"""Recipes (``sslcore.recipes``): validation, how ``sslcore.runs.pretrain`` applies them
and records them, the short-budget warning, the task card, and the taxonomy read from the
task classes; over a toy plugin and over every installed task."""

from __future__ import annotations

import dataclasses
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import sslcore.plugins.manager as manager
from sslcore import DatasetSpec, EncoderSpec, Paradigm, TaskSpec, hookimpl
from sslcore.build import build_task, check_component_options
from sslcore.cli import main
from sslcore.compare.grid import load_grid
from sslcore.engine import TrainConfig
from sslcore.errors import ConfigError, PluginError
from sslcore.io import read_json
from sslcore.plugins import Registry, get_registry, resolve_factory
from sslcore.recipes import (
    Recipe,
    ShortBudgetWarning,
    apply_recipe,
    method_fields,
    short_budget_warning,
)
from sslcore.runs import pretrain
from tests.test_runs import labelled_vectors
from tests.toy_tasks import DIM, AutoEncoder, VectorEncoder

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(device="cpu", progress_bar=False, checkpoint_every=1000)
#: the toy task's recipe: 4 epochs of the 40-vector set at batch 8 = 20 steps
TOY = Recipe(
    train={"epochs": 4, "batch_size": 8, "lr": 0.02, "optimizer": "adam", "weight_decay": 0.0, "warmup": 0.0},
    encoder_options={"output_dim": 3},
    task_options={"out_dim": DIM},
    dataset="vecs",
    dataset_options={"num_test": 6},
    reference="toy paper 2024; measured nowhere",
)


def toy_encoder(info: dict[str, Any], output_dim: int = 4) -> VectorEncoder:
    return VectorEncoder(info["dim"], output_dim)


class RecipePlugin:
    recipe: Recipe | None = TOY

    @hookimpl
    def sslcore_register_tasks(self):
        return [TaskSpec("ae", "toy", factory=AutoEncoder, default_encoder="vec", recipe=self.recipe)]

    @hookimpl
    def sslcore_register_encoders(self):
        return [EncoderSpec("vec", "toy", toy_encoder), EncoderSpec("vec2", "toy", toy_encoder)]

    @hookimpl
    def sslcore_register_datasets(self):
        return [
            DatasetSpec("vecs", "toy", labelled_vectors, "row", needs_root=False),
            DatasetSpec("vecs2", "toy", labelled_vectors, "row", needs_root=False),
        ]


def toy_registry(recipe: Recipe | None = TOY) -> Registry:
    plugin = RecipePlugin()
    plugin.recipe = recipe
    reg = Registry()
    reg.register(plugin, "toyrecipes")
    return reg


@pytest.fixture()
def registry() -> Registry:
    return toy_registry()


def train_of(run: Path) -> dict[str, Any]:
    return read_json(run / "config.json")["train"]


# -- the Recipe record -------------------------------------------------------------------------
def test_a_recipe_rejects_unknown_and_run_environment_train_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown recipe train option 'lrr'; did you mean 'lr'\?"):
        Recipe(train={"lrr": 0.1})
    with pytest.raises(ConfigError, match=r"'seed' belongs to the run .* a recipe may set: epochs"):
        Recipe(train={"seed": 3})
    with pytest.raises(ConfigError, match="'device' belongs to the run"):
        Recipe(train={"device": "cuda"})
    with pytest.raises(ConfigError, match="recipe train options are invalid: lr must be > 0"):
        Recipe(train={"epochs": 1, "lr": -1.0})
    with pytest.raises(ConfigError, match="name it"):
        Recipe(dataset_options={"link_split": True})
    assert {"epochs", "steps", "seconds", "lr", "batch_size", "optimizer"} <= set(method_fields())
    assert Recipe(train={"lr": 0.1}).budget == {}  # a recipe may leave the budget to the user


def test_a_bad_recipe_fails_its_plugin_at_registration() -> None:
    class Bad:
        @hookimpl
        def sslcore_register_tasks(self):
            return [TaskSpec("ae", "toy", factory=AutoEncoder, recipe=Recipe(train={"epoch": 3}))]

    reg = Registry()
    assert reg.register(Bad(), "bad", strict=False) is None
    assert "unknown recipe train option 'epoch'; did you mean 'epochs'?" in reg.failures[0].error


# -- apply_recipe ----------------------------------------------------------------------------------
def test_apply_recipe_fills_only_what_the_user_leaves_unset() -> None:
    plan = apply_recipe(TOY, {}, dataset="vecs", default_encoder="vec")
    assert plan.train == TOY.train and plan.encoder is None
    assert (plan.task_options, plan.encoder_options, plan.dataset_options) == (
        {"out_dim": DIM},
        {"output_dim": 3},
        {"num_test": 6},
    )
    assert plan.applied["train"] == TOY.train
    lr = apply_recipe(TOY, {"lr": 0.5}, dataset="vecs", default_encoder="vec")
    assert lr.train == {**TOY.train, "lr": 0.5} and "lr" not in lr.applied["train"]
    steps = apply_recipe(TOY, {"steps": 3, "seconds": None}, dataset="vecs", default_encoder="vec")
    assert steps.train["steps"] == 3 and "epochs" not in steps.train  # the budget is one unit
    assert steps.train["batch_size"] == 8  # the rest of the recipe still applies
    options = apply_recipe(TOY, {}, task_options={"out_dim": 5}, encoder_options={"output_dim": 2})
    assert options.task_options == {"out_dim": 5} and options.encoder_options == {"output_dim": 2}
    assert options.applied["task_options"] == {} and options.dataset_options == {}  # dataset not given
    other = apply_recipe(TOY, {}, encoder="vec2", dataset="toyrecipes:vecs2", default_encoder="vec")
    assert other.encoder_options == {} and other.dataset_options == {}  # another encoder, dataset
    named = apply_recipe(dataclasses.replace(TOY, encoder="vec2"), {}, default_encoder="vec")
    assert named.encoder == "vec2" and named.applied["encoder"] == "vec2"
    assert named.encoder_options == {"output_dim": 3}
    none = apply_recipe(None, {"steps": 2})
    assert none.train == {"steps": 2} and none.record() is None


# -- pretrain applies and records it -------------------------------------------------------------
def test_pretrain_without_options_trains_the_recipe(registry: Registry, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = pretrain("ae", "vecs", run, registry=registry, **ENV)
    assert result.steps == 20  # 4 epochs x 40 / 8
    config = read_json(run / "config.json")
    expected = TrainConfig.from_dict({**TOY.train, **ENV}).to_dict()
    assert config["train"] == expected
    assert config["task_options"] == {"out_dim": DIM} and config["encoder_options"] == {"output_dim": 3}
    assert config["dataset_options"] == {"num_test": 6}
    recipe = config["recipe"]
    assert recipe["reference"] == TOY.reference and recipe["declared"] == TOY.to_dict()
    assert recipe["applied"]["train"] == TOY.train
    assert recipe["applied"]["task_options"] == {"out_dim": DIM}


def test_user_values_win_field_by_field(registry: Registry, tmp_path: Path) -> None:
    pretrain("ae", "vecs", tmp_path / "lr", registry=registry, lr=0.1, **ENV)
    train = train_of(tmp_path / "lr")
    assert train["lr"] == 0.1 and train["epochs"] == 4 and train["optimizer"] == "adam"
    applied = read_json(tmp_path / "lr" / "config.json")["recipe"]["applied"]["train"]
    assert "lr" not in applied and applied["batch_size"] == 8

    result = pretrain("ae", "vecs", tmp_path / "steps", registry=registry, steps=3, **ENV)
    train = train_of(tmp_path / "steps")
    assert result.steps == 3 and train["steps"] == 3 and train["epochs"] is None
    assert train["batch_size"] == 8 and train["lr"] == 0.02


def test_no_budget_and_no_recipe_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no training budget: task 'ae' has no recipe budget"):
        pretrain("ae", "vecs", tmp_path / "run", registry=toy_registry(None), **ENV)
    assert not (tmp_path / "run").exists()


def test_a_resumed_run_keeps_the_configuration_it_started_with(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = pretrain("ae", "vecs", run, registry=toy_registry(), steps=5, **ENV)
    assert first.steps == 5
    started = read_json(run / "config.json")
    # the plugin's recipe changes (an upgrade): resuming without options continues the run as
    # config.json recorded it (its recipe's values included); a budget given extends it
    changed = dataclasses.replace(TOY, train={**TOY.train, "lr": 0.5, "batch_size": 4}, task_options={})
    again = pretrain("ae", "vecs", run, registry=toy_registry(changed), resume=True, epochs=4, **ENV)
    config = read_json(run / "config.json")
    assert again.steps == 20 and config["train"] == {**started["train"], "steps": None, "epochs": 4}
    for key in ("task_options", "encoder_options", "dataset_options", "recipe"):
        assert config[key] == started[key], key
    done = pretrain("ae", "vecs", run, registry=toy_registry(changed), resume=True, **ENV)
    assert done.new_steps == 0 and done.steps == 20  # the recorded budget, not the new recipe's
    with pytest.raises(ConfigError, match="task_options differ from the saved run"):
        pretrain(
            "ae", "vecs", run, registry=toy_registry(changed), resume=True, task_options={"out_dim": 5}, **ENV
        )
    # a run from before recipes (config.json without "recipe") resumes with its own budget
    del config["recipe"]
    (run / "config.json").write_text(json.dumps(config))
    assert pretrain("ae", "vecs", run, registry=toy_registry(), resume=True, **ENV).new_steps == 0


def test_a_short_budget_warns_and_names_the_recipes_budget(registry: Registry, tmp_path: Path) -> None:
    with pytest.warns(ShortBudgetWarning, match=r"budget \(1 step\) is far too short .* 4 epochs = 20 steps"):
        pretrain("ae", "vecs", tmp_path / "short", registry=registry, steps=1, **ENV)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the recipe's budget, and a budget above 10 % of it: silent
        pretrain("ae", "vecs", tmp_path / "recipe", registry=registry, **ENV)
        pretrain("ae", "vecs", tmp_path / "enough", registry=registry, steps=2, **ENV)


def test_short_budget_warning_rules() -> None:
    dgi = Recipe(train={"epochs": 200, "warmup": 0.0})
    one_epoch = TrainConfig(epochs=1)
    assert "200 epochs = 200 steps" in short_budget_warning(one_epoch, dgi, steps_per_epoch=1)
    assert short_budget_warning(TrainConfig(epochs=200), dgi, 1) is None
    assert short_budget_warning(TrainConfig(epochs=20), dgi, 1) is None  # 10 %
    assert short_budget_warning(TrainConfig(epochs=19), dgi, 1) is not None
    warm = Recipe(train={"steps": 1000, "warmup": 0.2})  # fewer steps than the recipe's warm-up
    assert "under 200 steps" in short_budget_warning(TrainConfig(steps=150), warm, 10)
    vision = Recipe(train={"seconds": 900})
    assert "900 seconds" in short_budget_warning(TrainConfig(seconds=30), vision, 100)
    assert short_budget_warning(TrainConfig(steps=5), vision, 100) is None  # not comparable
    assert short_budget_warning(one_epoch, None, 1) is None


# -- taxonomy: the task class is the source --------------------------------------------------------
def test_a_class_factory_spec_reads_its_taxonomy_from_the_class() -> None:
    spec = TaskSpec("ae", "toy", factory=AutoEncoder)
    assert spec.declared_taxonomy() == dict.fromkeys(("paradigm", "signal", "family", "negatives"))
    assert spec.paradigm is Paradigm.GENERATIVE and spec.signal == "reconstruction"
    assert (spec.family, spec.negatives) == (None, "none")
    assert "_class_taxonomy" in spec.__dict__  # read once, then cached


def test_a_string_factory_is_imported_on_first_access_only(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "lazy_taxonomy_mod.py").write_text(
        "from tests.toy_tasks import NoisyViewsContrast as Task\n\ndef build(encoder, info):\n    return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        spec = TaskSpec("c", "toy", factory="lazy_taxonomy_mod:Task", summary="s")
        assert "lazy_taxonomy_mod" not in sys.modules and "lazy_taxonomy_mod" in repr(spec)
        assert (spec.paradigm, spec.family, spec.negatives) == (
            Paradigm.CONTRASTIVE,
            "instance-instance",
            "end-to-end",
        )
        function = TaskSpec("f", "toy", factory="lazy_taxonomy_mod:build")
        with pytest.raises(
            PluginError, match=r"'f': its factory build is not a PretextTask class.*paradigm="
        ):
            function.paradigm  # noqa: B018
    finally:
        sys.modules.pop("lazy_taxonomy_mod", None)


def test_build_task_refuses_a_class_spec_that_contradicts_its_class() -> None:
    class Contradicting:
        @hookimpl
        def sslcore_register_tasks(self):
            return [TaskSpec("ae", "toy", factory=AutoEncoder, signal="colour", default_encoder="vec")]

        @hookimpl
        def sslcore_register_encoders(self):
            return [EncoderSpec("vec", "toy", toy_encoder)]

    reg = Registry()
    reg.register(Contradicting(), "contradicting")
    with pytest.raises(
        TypeError, match=r"signal 'colour' vs 'reconstruction'.*leave these out of the TaskSpec"
    ):
        build_task("ae", labelled_vectors(None), registry=reg)


def test_a_function_factory_spec_must_declare_its_taxonomy() -> None:
    def build(encoder, info):
        return AutoEncoder(encoder)

    with pytest.raises(ValueError, match=r"its factory .*build is not a PretextTask class, so the TaskSpec"):
        TaskSpec("fn", "toy", factory=build)
    with pytest.raises(ValueError, match="a contrastive task must declare its family"):
        TaskSpec("fn", "toy", Paradigm.CONTRASTIVE, build)
    spec = TaskSpec("fn", "toy", Paradigm.GENERATIVE, build, signal="reconstruction")
    assert (spec.paradigm, spec.signal, spec.family, spec.negatives) == (
        Paradigm.GENERATIVE,
        "reconstruction",
        None,
        "none",
    )


# -- every installed task ------------------------------------------------------------------------
INSTALLED = get_registry()
TASKS = sorted(INSTALLED.specs("task"))


@pytest.mark.parametrize("name", TASKS)
def test_every_installed_task_has_a_valid_recipe(name: str) -> None:
    spec = INSTALLED.task(name)
    recipe = spec.recipe
    assert isinstance(recipe, Recipe), f"{name} declares no recipe"
    assert recipe.budget and recipe.reference, f"{name}: a recipe needs a budget and a reference"
    TrainConfig.from_dict(recipe.train)
    check_component_options("task", spec.name, resolve_factory(spec.factory), recipe.task_options)
    encoder = INSTALLED.encoder(recipe.encoder or spec.default_encoder)
    assert encoder.domain == spec.domain
    check_component_options("encoder", encoder.name, resolve_factory(encoder.factory), recipe.encoder_options)
    dataset = INSTALLED.dataset(recipe.dataset)
    assert dataset.domain == spec.domain
    check_component_options("dataset", dataset.name, resolve_factory(dataset.factory), recipe.dataset_options)


@pytest.mark.parametrize("name", TASKS)
def test_every_installed_task_takes_its_taxonomy_from_its_class(name: str) -> None:
    spec = INSTALLED.task(name)
    cls = resolve_factory(spec.factory)
    assert all(v is None for v in spec.declared_taxonomy().values()), f"{name} repeats its taxonomy"
    assert spec.taxonomy() == {
        "paradigm": cls.paradigm,
        "domain": cls.domain,
        "signal": cls.signal,
        "family": cls.family,
        "negatives": cls.negatives,
    }
    assert cls.signal, f"{name}: the class names its self-supervision signal"


# -- the benchmarks ran what the recipes say ---------------------------------------------------------
def _method_fields(train: dict[str, Any]) -> dict[str, Any]:
    """A train dict resolved with the defaults, restricted to what a recipe may set."""
    resolved = TrainConfig.from_dict(train).to_dict()
    return {k: resolved[k] for k in method_fields()}


def _benchmark_runs(name: str) -> dict[str, dict[str, Any]]:
    """``method -> the first stored run`` of ``benchmarks/results/<name>.json``."""
    runs: dict[str, dict[str, Any]] = {}
    for key, run in read_json(ROOT / "benchmarks" / "results" / f"{name}.json")["runs"].items():
        if "/" in key and "recipe" in run:
            runs.setdefault(key.split("/")[0], run)
    return runs


def test_graph_recipes_are_what_the_graph_benchmark_ran() -> None:
    runs = _benchmark_runs("graph_methods")
    for task in (
        "dgi",
        "grace",
        "bgrl",
        "mvgrl",
        "graphmae",
        "attribute_masking",
        "context_prediction",
        "gae",
        "vgae",
        "arga",
        "arvga",
    ):
        used, recipe = runs[task]["recipe"], INSTALLED.task(task).recipe
        assert _method_fields(recipe.train) == _method_fields(used["train"]), task
        assert (recipe.dataset, dict(recipe.task_options)) == (used["dataset"], used["task_options"]), task
        assert dict(recipe.encoder_options) == used["encoder_options"], task
        assert dict(recipe.dataset_options) == used["dataset_options"], task
    for task in ("gcc", "graphcl", "infograph"):
        used, recipe = runs[task]["recipe"], INSTALLED.task(task).recipe
        assert _method_fields(recipe.train) == _method_fields(used["train"]), task
        assert dict(recipe.encoder_options) == used["encoder_options"] and recipe.dataset == used["dataset"]


def test_vision_and_text_recipes_are_what_their_benchmarks_ran() -> None:
    vision = read_json(ROOT / "benchmarks" / "results" / "vision_methods.json")
    for task, run in _benchmark_runs("vision_methods").items():
        recipe, used = INSTALLED.task(task).recipe, dict(run["recipe"])
        options = used.pop("task_options")
        assert _method_fields(recipe.train) == _method_fields({**used, "seconds": vision["budget_seconds"]})
        assert dict(recipe.task_options) == options and recipe.dataset == "fashion-mnist", task
        assert dict(recipe.encoder_options) == {"width": 64, "output_dim": 256}  # the script's encoder
    text = read_json(ROOT / "benchmarks" / "results" / "nlp_methods.json")
    for task, run in _benchmark_runs("nlp_methods").items():
        if task not in ("mlm", "electra", "simcse", "sop", "nsp", "clm"):
            continue  # variants (electra-temperature2, ...) override the recipe on purpose
        recipe, used = INSTALLED.task(task).recipe, dict(run["recipe"])
        options = used.pop("task_options")
        assert _method_fields(recipe.train) == _method_fields({**used, "seconds": run["budget_seconds"]})
        assert dict(recipe.task_options) == options, task
        assert (recipe.encoder or INSTALLED.task(task).default_encoder) == text["encoder"], task
        assert dict(recipe.encoder_options) == text["encoder_options"], task
        assert dict(recipe.dataset_options) == text["dataset_options"], task


@pytest.mark.parametrize("suite", ["quick", "standard"])
def test_the_shipped_suites_are_not_changed_by_the_recipes(suite: str) -> None:
    """Every run of a suite resolves to the same configuration with and without its task's
    recipe (options compared with the factories' defaults filled in), so the suite's
    published numbers hold."""
    from sslcore.build import component_option_specs
    from sslcore.options import EMPTY

    def defaults(kind: str, name: str) -> dict[str, Any]:
        factory = resolve_factory(INSTALLED.get(kind, name).factory)
        return {
            k: o.default for k, o in component_option_specs(kind, factory).items() if o.default is not EMPTY
        }

    def resolved(run: Any, recipe: Recipe | None) -> tuple[Any, ...]:
        spec = INSTALLED.task(run.task)
        plan = apply_recipe(
            recipe,
            {**run.train, **run.budget},
            run.encoder,
            run.task_options,
            run.encoder_options,
            run.dataset_options,
            dataset=run.dataset,
            default_encoder=spec.default_encoder,
        )
        encoder = plan.encoder or spec.default_encoder
        return (
            TrainConfig.from_dict(plan.train).to_dict(),
            encoder,
            {**defaults("task", run.task), **plan.task_options},
            {**defaults("encoder", encoder), **plan.encoder_options},
            {**defaults("dataset", run.dataset), **plan.dataset_options},
        )

    for run in load_grid(ROOT / "sslcore" / "compare" / "suites" / f"{suite}.toml").runs:
        assert resolved(run, INSTALLED.task(run.task).recipe) == resolved(run, None), (run.task, run.dataset)


# -- the card ----------------------------------------------------------------------------------------
@pytest.fixture()
def tabular(tabular_registry: Registry) -> Registry:
    return tabular_registry


def test_the_task_card_names_taxonomy_options_and_recipe(
    tabular: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tasks", "scarf"]) == 0
    card = capsys.readouterr().out
    assert card.startswith("scarf  (tabular:scarf)")
    for fact in ("contrastive", "instance-instance", "end-to-end", "default encoder  mlp"):
        assert fact in card
    option = next(line for line in card.splitlines() if line.strip().startswith("corruption_rate"))
    assert option.split()[:2] == ["corruption_rate", "0.6"] and "in (0, 1)" in option
    assert "temperature" in card and "a float > 0" in card
    assert "budget           1000 epochs" in card and "Bahri et al. 2022" in card
    assert "lr=0.001" in card and "breast-cancer" in card
    assert main(["tasks"]) == 0  # without a name: the table
    assert capsys.readouterr().out.split()[:6] == [
        "task",
        "domain",
        "paradigm",
        "family",
        "negatives",
        "summary",
    ]
    assert main(["tasks", "scraf"]) == 2
    assert "did you mean 'scarf'?" in capsys.readouterr().err


def test_the_card_of_an_installed_task_reads_option_meanings_from_docstrings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if "vision:moco_v2" not in INSTALLED.specs("task"):
        pytest.skip("sslcore-vision is not installed")
    monkeypatch.setattr(manager, "_DEFAULT", INSTALLED)
    monkeypatch.setenv("COLUMNS", "100")  # the card wraps to the terminal (pytest-xdist workers: 80)
    assert main(["tasks", "moco_v2"]) == 0
    card = capsys.readouterr().out
    symmetric = next(line for line in card.splitlines() if line.strip().startswith("symmetric"))
    assert "False" in symmetric and "True" in symmetric and "InfoNCE(q(t_2), k(t_1))" in symmetric
    assert "900 seconds" in card and "width=64" in card and "Chen et al. 2020" in card
