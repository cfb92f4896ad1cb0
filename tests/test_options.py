"""Option values checked against type hints and ``annotated_types`` ranges (sslcore.options),
the same way for tasks, encoders, datasets and protocols, from the Python API and grids;
and every registered factory's declarations (a registry-wide contract)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pytest
from annotated_types import Ge, Gt, Interval, Le
from torch import nn

from sslcore import DatasetBundle, DatasetSpec, EncoderSpec, EvalSet, Paradigm, TaskSpec, hookimpl
from sslcore.build import build_task, component_option_specs, task_option_specs
from sslcore.cli import parse_assignments
from sslcore.compare import GridError, parse_grid, run_grid
from sslcore.errors import ConfigError
from sslcore.evaluation import PROTOCOLS, TASK_PROTOCOLS
from sslcore.options import check_values, declaration_problems, option_specs, value_problem
from sslcore.plugins import Registry, get_registry, resolve_factory
from sslcore.runs import evaluate, pretrain
from tests.fake_dist import TABULAR
from tests.toy_tasks import DIM, AutoEncoder, VectorEncoder, random_vectors

PROTOCOL_FIXED = {"X", "y", "splits", "task", "evalset", "seed", "device"}
LOADS: list[dict[str, Any]] = []  # every call of the toy dataset factory


class RangedTask(AutoEncoder):
    """``__init__`` declares the options (no ``from_data``)."""

    def __init__(
        self,
        encoder: nn.Module,
        temperature: Annotated[float, Gt(0)] = 0.2,
        depth: Annotated[int, Ge(1)] = 1,
        mask: Literal["center", "random"] = "center",
    ):
        super().__init__(encoder)
        self.temperature, self.depth, self.mask = temperature, depth, mask


class FromDataTask(AutoEncoder):
    """``from_data`` declares ``ratio`` (a range ``__init__`` lacks) and forwards the rest."""

    def __init__(self, encoder: nn.Module, ratio: float = 0.5, hidden: Annotated[int, Ge(1)] = 4):
        super().__init__(encoder)
        self.ratio, self.hidden = ratio, hidden

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Any,
        ratio: Annotated[float, Interval(gt=0, lt=1)] = 0.5,
        **options: Any,
    ) -> FromDataTask:
        return cls(encoder, ratio, **options)


def ranged_vectors(
    root: Path | None, n: Annotated[int, Ge(8)] = 40, noise: Annotated[float, Ge(0)] = 0.0
) -> DatasetBundle:
    LOADS.append({"n": n, "noise": noise})
    data = random_vectors(n)
    labelled = [(x, int(x[0] > 0)) for x in data]
    splits = {"train": np.arange(n - 8), "test": np.arange(n - 8, n)}
    evaluation = EvalSet(labelled, splits, num_classes=2)
    return DatasetBundle("vecs", "toy", "row", data, evaluation, info={"dim": DIM})


def ranged_encoder(info: Any, output_dim: Annotated[int, Ge(1)] = 4) -> VectorEncoder:
    return VectorEncoder(info["dim"], output_dim)


class OptionsPlugin:
    @hookimpl
    def sslcore_register_tasks(self):
        return [
            TaskSpec("ranged", "toy", Paradigm.GENERATIVE, RangedTask, default_encoder="vec"),
            TaskSpec("fromdata", "toy", Paradigm.GENERATIVE, FromDataTask, default_encoder="vec"),
        ]

    @hookimpl
    def sslcore_register_encoders(self):
        return [EncoderSpec("vec", "toy", ranged_encoder)]

    @hookimpl
    def sslcore_register_datasets(self):
        return [DatasetSpec("vecs", "toy", ranged_vectors, "row", needs_root=False)]


@pytest.fixture()
def registry() -> Registry:
    LOADS.clear()
    reg = Registry()
    reg.register(OptionsPlugin(), "toyoptions")
    return reg


# --- the checker: types ---


@pytest.mark.parametrize(
    ("hint", "value", "problem"),
    [
        (float, "abc", "must be a float, not str"),
        (float, True, "must be a float, not bool"),
        (float, 2, None),  # an int is a fine float
        (int, True, "must be an int, not bool"),
        (int, 2.5, "must be an int, not float"),
        (int, 3, None),
        (bool, 1, "must be True or False, not int"),
        (str, 3, "must be a string, not int"),
        (Literal["center", "random"], "middle", "must be one of 'center', 'random'"),
        (Literal["center", "random"], 1, "must be one of 'center', 'random', not int"),
        (Literal["center", "random"] | None, "middle", "must be one of 'center', 'random'"),
        (Literal["center", "random"], "random", None),
        (Literal[1, 3], True, "must be one of 1, 3, not bool"),
        (int | None, None, None),
        (int | None, "x", "must be an int or None, not str"),
        (list[int], [1, "2"], "item 1 ('2') must be an int, not str"),
        (list[int], [1, 2], None),
        (tuple[float, ...], [0.1, 1], None),  # JSON and TOML give lists
        (tuple[float, float], (1.0,), "must be a tuple (float, float), not 1 items"),
        (Sequence[str], "abc", "must be a list of strings, not str"),
        (Sequence[str], ("a", "b"), None),
        (str | Sequence[str], "a.txt", None),
        (dict[str, int], {"a": "b"}, "entry 'a': must be an int, not str"),
        (dict[str, int], {"a": 1}, None),
        (Path, "data/x", None),
        (Any, object(), None),
    ],
)
def test_values_are_checked_against_the_type_hint(hint: Any, value: Any, problem: str | None) -> None:
    assert value_problem(value, hint) == problem


# --- the checker: ranges ---


@pytest.mark.parametrize(
    ("hint", "value", "problem"),
    [
        (Annotated[float, Gt(0)], 0, "must be > 0"),
        (Annotated[float, Gt(0)], 1e-9, None),
        (Annotated[int, Ge(1)], 1, None),
        (Annotated[int, Ge(1)], 0, "must be >= 1"),
        (Annotated[float, Le(1)], 1.5, "must be <= 1"),
        (Annotated[float, Interval(gt=0, lt=1)], 0, "must be in (0, 1)"),
        (Annotated[float, Interval(gt=0, lt=1)], 1, "must be in (0, 1)"),
        (Annotated[float, Interval(gt=0, lt=1)], 0.5, None),
        (Annotated[float, Interval(ge=0, le=1)], 0, None),
        (Annotated[float, Interval(ge=0, le=1)], 1, None),
        (Annotated[float, Interval(ge=0, lt=1)], 1, "must be in [0, 1)"),
        (Annotated[float, Interval(gt=0, le=1)], 0, "must be in (0, 1]"),
        (Annotated[int, Ge(1)] | None, -3, "must be >= 1"),
        (Annotated[int, Ge(1)] | None, None, None),
        (Annotated[float, Gt(0)], "abc", "must be a float > 0, not str"),
        (tuple[Annotated[float, Gt(0)], ...], [1.0, -1], "item 1 (-1) must be > 0"),
        (Annotated[float, Gt(0)], float("nan"), "must be > 0"),
    ],
)
def test_values_are_checked_against_declared_ranges(hint: Any, value: Any, problem: str | None) -> None:
    assert value_problem(value, hint) == problem


def test_the_error_names_component_option_value_expectation_and_example() -> None:
    specs = option_specs(RangedTask.__init__, reserved=2)
    with pytest.raises(ConfigError) as info:
        check_values("task 'ranged'", specs, {"temperature": -0.1}, "--task-opt")
    assert str(info.value) == (
        "task 'ranged' option temperature=-0.1: must be > 0 (a float, e.g. --task-opt temperature=0.2)"
    )
    with pytest.raises(ConfigError) as info:
        check_values(
            "task 'ranged'", specs, {"temperature": "abc", "depth": 0, "mask": "middle"}, "--task-opt"
        )
    message = str(info.value)
    assert message.startswith("task 'ranged': 3 option values are invalid:")
    assert "temperature='abc': must be a float > 0, not str (e.g. --task-opt temperature=0.2)" in message
    assert "depth=0: must be >= 1 (an int, e.g. --task-opt depth=1)" in message
    assert "mask='middle': must be one of 'center', 'random' (e.g. --task-opt mask=center)" in message


def test_string_annotations_resolve_and_unresolvable_ones_are_skipped() -> None:
    namespace: dict[str, Any] = {}
    exec(
        "from __future__ import annotations\n"
        "from typing import Annotated, TYPE_CHECKING\n"
        "from annotated_types import Gt\n"
        "if TYPE_CHECKING:\n"
        "    from somewhere import Tokenizer\n"
        "def factory(info, tokenizer: Tokenizer = None, scale: Annotated[float, Gt(0)] = 1.0,\n"
        "            count=3, flag=False, name='x', anything=None):\n"
        "    pass\n",
        namespace,
    )
    specs = option_specs(namespace["factory"], reserved=1)
    assert value_problem(object(), specs["tokenizer"].hint) is None  # not resolvable: not guessed
    assert value_problem(-1.0, specs["scale"].hint) == "must be > 0"
    # unannotated: the default's type (a number: any int or float)
    assert value_problem(0.5, specs["count"].hint) is None
    assert value_problem("3", specs["count"].hint) == "must be a float, not str"
    assert value_problem(1, specs["flag"].hint) == "must be True or False, not int"
    assert value_problem(3, specs["name"].hint) == "must be a string, not int"
    assert value_problem([1], specs["anything"].hint) is None


def test_a_task_option_takes_the_annotation_of_the_signature_that_declares_it() -> None:
    specs = task_option_specs(FromDataTask)
    assert set(specs) == {"ratio", "hidden"}
    assert value_problem(1.5, specs["ratio"].hint) == "must be in (0, 1)"  # from_data's range
    assert value_problem(0, specs["hidden"].hint) == "must be >= 1"  # __init__'s, forwarded


# --- where values are checked ---


def test_build_task_rejects_bad_values_and_passes_good_ones_unchanged(registry: Registry) -> None:
    bundle = ranged_vectors(None)
    with pytest.raises(ConfigError, match=r"task 'ranged' option temperature=0: must be > 0"):
        build_task("ranged", bundle, task_options={"temperature": 0}, registry=registry)
    with pytest.raises(ConfigError, match=r"task 'fromdata' option ratio=1: must be in \(0, 1\)"):
        build_task("fromdata", bundle, task_options={"ratio": 1}, registry=registry)
    with pytest.raises(
        ConfigError, match=r"encoder 'vec' option output_dim=True: must be an int >= 1, not bool"
    ):
        build_task("ranged", bundle, encoder_options={"output_dim": True}, registry=registry)
    options = {"temperature": 1, "depth": 2, "mask": "random"}
    task = build_task("ranged", bundle, task_options=options, registry=registry)
    assert options == {"temperature": 1, "depth": 2, "mask": "random"}
    assert type(task.temperature) is int and (task.depth, task.mask) == (2, "random")  # not coerced


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"task_options": {"temperature": "abc"}},
            "task 'ranged' option temperature='abc': must be a float > 0",
        ),
        ({"task_options": {"depth": -3}}, "task 'ranged' option depth=-3: must be >= 1"),
        ({"encoder_options": {"output_dim": "abc"}}, "encoder 'vec' option output_dim='abc': must be an int"),
        ({"dataset_options": {"n": 2.5}}, "dataset 'vecs' option n=2.5: must be an int >= 8, not float"),
    ],
)
def test_pretrain_fails_before_config_json_and_before_data_loads(
    registry: Registry, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    run = tmp_path / "run"
    with pytest.raises(ConfigError) as info:
        pretrain(
            "ranged", "vecs", run, registry=registry, steps=1, device="cpu", progress_bar=False, **options
        )
    assert message in str(info.value)
    assert not (run / "config.json").exists()
    assert LOADS == []  # the dataset was never built


def test_pretrain_reports_every_component_at_once(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        pretrain(
            "ranged",
            "vecs",
            tmp_path / "run",
            task_options={"temperature": -1},
            dataset_options={"noise": -1},
            registry=registry,
            steps=1,
            device="cpu",
        )
    assert "temperature=-1" in str(info.value) and "noise=-1" in str(info.value)


GRID = """
[settings]
seeds = [0]
device = "cpu"

[[run]]
task = "ranged"
dataset = "vecs"
budget = {steps = 2}
train = {batch_size = 8}
"""


def test_a_grid_with_a_bad_value_is_refused_before_any_run(registry: Registry, tmp_path: Path) -> None:
    text = GRID + 'task_options = {temperature = -0.5, mask = "middle"}\nencoder_options = {output_dim = 0}\n'
    with pytest.raises(GridError) as info:
        run_grid(parse_grid(text, "g.toml"), tmp_path, registry=registry, log=lambda _: None)
    message = str(info.value)
    assert "the grid cannot run" in message
    assert "temperature=-0.5: must be > 0" in message and "mask='middle'" in message
    assert "encoder 'vec' option output_dim=0: must be >= 1" in message
    assert not (tmp_path / "runs").exists() and LOADS == []


def test_evaluate_checks_protocol_values_before_loading_anything(tmp_path: Path) -> None:
    missing = tmp_path / "no-run-here"  # never read: the options fail first
    with pytest.raises(ConfigError, match=r"protocol 'linear' option Cs='abc': must be a list of floats > 0"):
        evaluate(missing, "linear", Cs="abc")
    with pytest.raises(ConfigError, match=r"protocol 'knn' option ks=\[5, 0\]: item 1 \(0\) must be >= 1"):
        evaluate(missing, "knn", ks=[5, 0])
    with pytest.raises(ConfigError, match=r"protocol 'finetune' option epochs=1.5: must be an int >= 1"):
        evaluate(missing, "finetune", epochs=1.5)
    assert not missing.exists()


# --- the contract over every registered factory ---


def _all_components(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any]]:
    """(kind, qualified name, option specs) of every installed component, the example
    tabular plugin's and every evaluation protocol."""
    monkeypatch.syspath_prepend(str(TABULAR))
    import sslcore_tabular.plugin

    tabular = Registry()
    tabular.register(sslcore_tabular.plugin, "tabular")
    out = []
    for reg in (get_registry(), tabular):
        for kind in ("task", "encoder", "dataset"):
            for name, spec in sorted(reg.specs(kind).items()):
                out.append((kind, name, component_option_specs(kind, resolve_factory(spec.factory))))
    for name, probe in {**PROTOCOLS, **TASK_PROTOCOLS}.items():
        out.append(("protocol", name, option_specs(probe, exclude=PROTOCOL_FIXED)))
    return out


def test_every_factory_types_its_numeric_options_and_its_defaults_pass_its_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    components = _all_components(monkeypatch)
    kinds = {kind for kind, _, _ in components}
    assert kinds == {"task", "encoder", "dataset", "protocol"}, f"components missing: {kinds}"
    assert any(name.startswith("tabular:") for _, name, _ in components)
    problems = [p for kind, name, specs in components for p in declaration_problems(f"{kind} {name}", specs)]
    assert not problems, "\n".join(problems)


def test_the_contract_catches_untyped_numbers_and_defaults_out_of_their_range() -> None:
    def factory(info, rate=0.1, width: Annotated[int, Ge(1)] = 0, name: str = None, flag=True):
        pass

    problems = declaration_problems("encoder 'bad'", option_specs(factory, reserved=1))
    assert problems == [
        "encoder 'bad' option rate (default 0.1) has no type hint sslcore can check: annotate it "
        "(e.g. rate: float = ...)",
        "encoder 'bad' option width: its default 0 must be >= 1",
        "encoder 'bad' option name: its default None must be a string, not NoneType",
    ]


def test_the_cli_reads_true_and_false_as_booleans() -> None:
    parsed = parse_assignments(["a=true", "b=False", "c=TRUE", "d=yes", "e=1"], "--task-opt")
    assert parsed == {"a": True, "b": False, "c": True, "d": "yes", "e": 1}
    assert type(parsed["e"]) is int
