"""Building datasets, encoders and tasks from registered names and option dicts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from sslcore import DatasetBundle, DatasetSpec, EncoderSpec, Paradigm, TaskSpec, hookimpl
from sslcore.build import build_dataset, build_encoder, build_task, option_problems, task_option_names
from sslcore.errors import ConfigError, UnknownNameError
from sslcore.plugins import Registry
from sslcore.recipes import Recipe, apply_recipe, same_encoder
from tests.toy_tasks import DIM, AutoEncoder, NoisyViewsContrast, ToyGAN, VectorEncoder, random_vectors


def toy_dataset(root: Path | None, n: int = 16, seed: int = 0) -> DatasetBundle:
    return DatasetBundle("vecs", "toy", "row", random_vectors(n, seed=seed), info={"dim": DIM, "root": root})


def picture_dataset(root: Path | None) -> DatasetBundle:
    return DatasetBundle("pics", "vision", "image", [torch.zeros(3, 4, 4)], info={"in_channels": 3})


def vector_encoder(info, output_dim: int = 4) -> VectorEncoder:
    return VectorEncoder(info["dim"], output_dim)


def picture_encoder(info) -> nn.Module:
    return VectorEncoder(48, 2)


ZOO = {"small": 2, "large": 8}


def zoo_encoder(info, model: str, scale: int = 1) -> VectorEncoder:
    """A family of encoders named ``zoo:<model>`` (the spec's ``name_option``)."""
    if model not in ZOO:
        raise ConfigError(f"no zoo model {model!r}")
    return VectorEncoder(info["dim"], ZOO[model] * scale)


def task_function(encoder: nn.Module, info, out_dim: int = DIM) -> AutoEncoder:
    return AutoEncoder(encoder, out_dim)


def anything_task(encoder: nn.Module, info, **options) -> AutoEncoder:
    task = AutoEncoder(encoder)
    task.options = options
    return task


class KwargsTask(AutoEncoder):
    """An ``__init__`` that takes ``**options``: every option is accepted."""

    def __init__(self, encoder: nn.Module, **options):
        super().__init__(encoder)
        self.options = options


class FromDataOnly(AutoEncoder):
    """``from_data`` names every option it takes (no ``**options``)."""

    def __init__(self, encoder: nn.Module, out_dim: int = DIM, dropout: float = 0.0):
        super().__init__(encoder, out_dim)
        self.dropout = dropout

    @classmethod
    def from_data(cls, encoder, info, width_from_info: bool = True):
        return cls(encoder, out_dim=info["dim"] if width_from_info else DIM)


class FromDataForwarding(AutoEncoder):
    """``from_data`` adds ``scale`` and forwards the rest to ``__init__``."""

    def __init__(self, encoder: nn.Module, hidden: int = 4):
        super().__init__(encoder)
        self.hidden = hidden

    @classmethod
    def from_data(cls, encoder, info, scale: float = 1.0, **options):
        task = cls(encoder, **options)
        task.scale = scale
        return task


class RequiredInitForwarding(AutoEncoder):
    """``__init__`` requires ``width``, which ``from_data`` fills from ``info``."""

    def __init__(self, encoder: nn.Module, width: int, hidden: int = 4):
        super().__init__(encoder)
        self.width, self.hidden = width, hidden

    @classmethod
    def from_data(cls, encoder, info, scale: float = 1.0, **options):
        return cls(encoder, info["dim"], **options)


class EncoderInfoTask(AutoEncoder):
    """Asks for a registered encoder of 3-dim inputs (``encoder_info``) and keeps the
    info its ``from_data`` saw."""

    @classmethod
    def encoder_info(cls, info):
        return {**info, "dim": 3}

    @classmethod
    def from_data(cls, encoder, info, **options):
        task = cls(encoder, **options)
        task.info = dict(info)
        return task


class NotATask(nn.Module):
    pass


class ToyPlugin:
    @hookimpl
    def sslcore_register_tasks(self):
        gen = dict(domain="toy", paradigm=Paradigm.GENERATIVE, default_encoder="vec")
        return [
            TaskSpec("ae", factory=AutoEncoder, **gen),
            TaskSpec(
                "simclr",
                domain="toy",
                paradigm="contrastive",
                family="instance-instance",
                factory=NoisyViewsContrast,
            ),
            TaskSpec(
                "gan", domain="toy", paradigm=Paradigm.ADVERSARIAL, factory=ToyGAN, default_encoder="vec"
            ),
            TaskSpec("fn", factory=task_function, **gen),
            TaskSpec("anything", factory=anything_task, **gen),
            TaskSpec("kwargs", factory=KwargsTask, **gen),
            TaskSpec("fromdata", factory=FromDataOnly, **gen),
            TaskSpec("forwarding", factory=FromDataForwarding, **gen),
            TaskSpec("required", factory=RequiredInitForwarding, **gen),
            TaskSpec("encoder-info", factory=EncoderInfoTask, **gen),
            TaskSpec(
                "wrong-encoder",
                factory=AutoEncoder,
                domain="toy",
                paradigm="generative",
                default_encoder="img",
            ),
            TaskSpec("not-a-task", factory=lambda encoder, info: NotATask(), **gen),
            TaskSpec(
                "liar",
                factory=AutoEncoder,
                domain="toy",
                paradigm=Paradigm.CONTRASTIVE,
                family="instance-instance",
            ),
            TaskSpec(
                "simclr-img",
                domain="vision",
                paradigm="contrastive",
                family="instance-instance",
                factory=NoisyViewsContrast,
                default_encoder="img",
            ),
        ]

    @hookimpl
    def sslcore_register_encoders(self):
        return [
            EncoderSpec("vec", "toy", vector_encoder),
            EncoderSpec("img", "vision", picture_encoder),
            EncoderSpec("nodim", "toy", lambda info: nn.Identity()),
            EncoderSpec("zoo", "toy", zoo_encoder, name_option="model"),
        ]

    @hookimpl
    def sslcore_register_datasets(self):
        return [
            DatasetSpec("vecs", "toy", toy_dataset, "row", needs_root=False),
            DatasetSpec("pics", "vision", picture_dataset, "image"),
            DatasetSpec("more-pics", "vision", picture_dataset, "image"),
            DatasetSpec("not-a-bundle", "toy", lambda root: [1, 2, 3], "row"),
        ]


@pytest.fixture()
def registry() -> Registry:
    reg = Registry()
    reg.register(ToyPlugin(), "toyplug")
    return reg


@pytest.fixture()
def bundle(registry: Registry) -> DatasetBundle:
    return build_dataset("vecs", None, registry=registry)


# -- datasets and encoders -------------------------------------------------------------
def test_build_dataset_passes_root_as_path_and_options(registry: Registry, tmp_path: Path) -> None:
    bundle = build_dataset("vecs", str(tmp_path), {"n": 5, "seed": 3}, registry)
    assert bundle.info["root"] == tmp_path and isinstance(bundle.info["root"], Path)
    assert len(bundle.pretrain) == 5
    assert all(torch.equal(a, b) for a, b in zip(bundle.pretrain, random_vectors(5, seed=3)))
    assert build_dataset("toyplug:vecs", registry=registry).info["root"] is None


def test_build_dataset_rejects_unknown_options_and_non_bundles(registry: Registry) -> None:
    with pytest.raises(
        ConfigError,
        match=r"dataset 'vecs' has no option 'sed'; did you mean 'seed'\? Valid options: n, seed\.",
    ):
        build_dataset("vecs", None, {"sed": 1}, registry)
    with pytest.raises(TypeError, match="dataset 'not-a-bundle' factory returned list, not DatasetBundle"):
        build_dataset("not-a-bundle", None, registry=registry)
    with pytest.raises(UnknownNameError, match="did you mean 'vecs'"):
        build_dataset("vec", None, registry=registry)


def test_dataset_bundle_rejects_empty_pretraining_data() -> None:
    with pytest.raises(ValueError, match="dataset 'empty' has no pretraining samples"):
        DatasetBundle("empty", "toy", "row", [])


def test_build_encoder(registry: Registry) -> None:
    enc = build_encoder("vec", {"dim": DIM}, {"output_dim": 6}, registry)
    assert enc.output_dim == 6 and enc(torch.zeros(2, DIM)).shape == (2, 6)
    with pytest.raises(
        ConfigError, match=r"encoder 'vec' has no option 'outputdim'; did you mean 'output_dim'\?"
    ):
        build_encoder("vec", {"dim": DIM}, {"outputdim": 6}, registry)
    with pytest.raises(TypeError, match="encoder 'nodim' has no integer output_dim"):
        build_encoder("nodim", {}, registry=registry)


def test_an_encoder_name_can_carry_its_name_option(registry: Registry, bundle: DatasetBundle) -> None:
    """``zoo:<model>`` (and ``toyplug:zoo:<model>``) build the ``zoo`` spec with that model."""
    info = {"dim": DIM}
    assert build_encoder("zoo:large", info, registry=registry).output_dim == 8
    assert build_encoder("toyplug:zoo:small", info, {"scale": 3}, registry).output_dim == 6
    assert build_encoder("zoo", info, {"model": "large"}, registry).output_dim == 8
    assert build_encoder("zoo:large", info, {"model": "large"}, registry).output_dim == 8  # the same twice
    with pytest.raises(ConfigError, match=r"encoder 'zoo:large' names model='large' but its options give"):
        build_encoder("zoo:large", info, {"model": "small"}, registry)
    with pytest.raises(ConfigError, match=r"encoder 'zoo' needs its model: name the encoder zoo:<model>"):
        build_encoder("zoo", info, registry=registry)
    with pytest.raises(ConfigError, match=r"encoder 'zoo:small' has no option 'scal'; did you mean 'scale'"):
        build_encoder("zoo:small", info, {"scal": 2}, registry)
    task = build_task("ae", bundle, "zoo:small", registry=registry)
    assert task.encoder.output_dim == 2
    assert option_problems("ae", "vecs", "zoo", registry=registry) == [
        "encoder 'zoo' needs its model: name the encoder zoo:<model> (e.g. --encoder zoo:<model>) "
        "or set the option model=..."
    ]
    assert option_problems("ae", "vecs", "zoo:small", encoder_options={"scale": 2}, registry=registry) == []


def test_a_name_value_needs_a_spec_with_a_name_option(registry: Registry) -> None:
    """Only a spec that declares a ``name_option`` takes a value after its name; unknown
    prefixes stay unknown names."""
    with pytest.raises(UnknownNameError, match="unknown encoder 'vec:large'"):
        build_encoder("vec:large", {"dim": DIM}, registry=registry)
    with pytest.raises(UnknownNameError, match="unknown encoder 'nothere:large'"):
        build_encoder("nothere:large", {"dim": DIM}, registry=registry)
    with pytest.raises(UnknownNameError):
        build_encoder("zoo:", {"dim": DIM}, registry=registry)


def test_recipes_compare_encoder_names_by_what_they_resolve_to(registry: Registry) -> None:
    """A recipe's encoder options apply to the recipe's encoder under any of its names, not
    to another encoder whose name ends the same (``zoo:vec`` is not ``vec``)."""
    assert same_encoder("vec", "toyplug:vec", registry)
    assert same_encoder("zoo:small", "toyplug:zoo:small", registry)
    assert not same_encoder("zoo:vec", "vec", registry)
    assert not same_encoder("zoo:small", "zoo:large", registry)
    recipe = Recipe(encoder="zoo:small", encoder_options={"scale": 2})
    assert apply_recipe(recipe, {}, registry=registry).encoder_options == {"scale": 2}
    assert apply_recipe(recipe, {}, "toyplug:zoo:small", registry=registry).encoder_options == {"scale": 2}
    assert apply_recipe(recipe, {}, "zoo:large", registry=registry).encoder_options == {}


# -- tasks -------------------------------------------------------------------------------
def test_build_task_with_default_encoder_and_options(registry: Registry, bundle: DatasetBundle) -> None:
    task = build_task(
        "simclr", bundle, "vec", {"temperature": 0.2, "proj_dim": 3}, {"output_dim": 5}, registry
    )
    assert isinstance(task, NoisyViewsContrast) and task.temperature == 0.2
    assert task.encoder.output_dim == 5 and task.head.out_features == 3
    ae = build_task("ae", bundle, registry=registry)  # the spec's default encoder
    assert isinstance(ae.encoder, VectorEncoder) and ae.encoder.output_dim == 4
    fn = build_task("fn", bundle, task_options={"out_dim": 3}, registry=registry)
    assert fn.decoder.out_features == 3


def test_build_task_accepts_a_user_module_as_encoder(registry: Registry, bundle: DatasetBundle) -> None:
    mine = VectorEncoder(DIM, 7)
    task = build_task("ae", bundle, mine, registry=registry)
    assert task.encoder is mine
    with pytest.raises(ConfigError, match="encoder options apply only to a registered encoder name"):
        build_task("ae", bundle, VectorEncoder(), encoder_options={"output_dim": 3}, registry=registry)
    with pytest.raises(
        ConfigError, match="Linear has no integer output_dim; wrap it as sslcore.WrappedEncoder"
    ):
        build_task("ae", bundle, nn.Linear(DIM, 4), registry=registry)


def test_task_info_adds_the_pretraining_set_size(registry: Registry, bundle: DatasetBundle) -> None:
    task = build_task("encoder-info", bundle, VectorEncoder(DIM, 4), registry=registry)
    assert task.info == {**bundle.info, "num_pretrain_samples": 16}
    assert "num_pretrain_samples" not in bundle.info  # the bundle itself is left alone


def test_encoder_info_hook_reaches_the_encoder_factory(registry: Registry, bundle: DatasetBundle) -> None:
    task = build_task("encoder-info", bundle, registry=registry)  # registered default encoder "vec"
    assert task.encoder.linear.in_features == 3  # vector_encoder read the hook's info["dim"]
    assert task.info["dim"] == DIM  # from_data still sees the dataset's facts
    # the default hook leaves the info alone; a user module is used as it is
    assert build_task("ae", bundle, registry=registry).encoder.linear.in_features == DIM
    mine = VectorEncoder(DIM, 4)
    assert build_task("encoder-info", bundle, mine, registry=registry).encoder is mine


def test_unknown_task_option_suggests_the_closest(registry: Registry, bundle: DatasetBundle) -> None:
    with pytest.raises(ConfigError) as exc:
        build_task("simclr", bundle, "vec", {"temperture": 0.1}, registry=registry)
    message = str(exc.value)
    assert "task 'simclr' has no option 'temperture'; did you mean 'temperature'?" in message
    assert "Valid options: proj_dim, temperature, noise." in message
    with pytest.raises(ConfigError, match=r"task 'fn' has no option 'outdim'; did you mean 'out_dim'\?"):
        build_task("fn", bundle, task_options={"outdim": 1}, registry=registry)


def test_task_and_dataset_domain_mismatch_names_both_domains(registry: Registry) -> None:
    pics = build_dataset("pics", None, registry=registry)
    with pytest.raises(ConfigError) as exc:
        build_task("ae", pics, registry=registry)
    message = str(exc.value)
    assert "task 'ae' is for the 'toy' domain but dataset 'pics' is 'vision'" in message
    assert (
        "pick a toy dataset (vecs, not-a-bundle)" in message
        or "pick a toy dataset (not-a-bundle, vecs)" in message
    )
    with pytest.raises(
        ConfigError, match="task 'simclr-img' is for the 'vision' domain but dataset 'vecs' is 'toy'"
    ):
        build_task("simclr-img", build_dataset("vecs", None, registry=registry), registry=registry)


def test_encoder_of_another_domain_and_missing_default(registry: Registry, bundle: DatasetBundle) -> None:
    with pytest.raises(ConfigError, match="encoder 'img' is for 'vision', task 'wrong-encoder' for 'toy'"):
        build_task("wrong-encoder", bundle, registry=registry)
    with pytest.raises(ConfigError, match="task 'simclr' has no default encoder; pass one with --encoder"):
        build_task("simclr", bundle, registry=registry)


def test_factory_results_are_checked_against_the_spec(registry: Registry, bundle: DatasetBundle) -> None:
    with pytest.raises(TypeError, match="task 'not-a-task' factory returned NotATask, not a PretextTask"):
        build_task("not-a-task", bundle, registry=registry)
    with pytest.raises(
        TypeError, match="the spec says contrastive/toy but the class AutoEncoder declares generative/toy"
    ):
        build_task("liar", bundle, "vec", registry=registry)


def test_kwargs_factories_accept_any_option(registry: Registry, bundle: DatasetBundle) -> None:
    assert build_task("anything", bundle, task_options={"whatever": 1}, registry=registry).options == {
        "whatever": 1
    }
    assert task_option_names(KwargsTask) is None
    kw = build_task("kwargs", bundle, task_options={"alpha": 2, "beta": "x"}, registry=registry)
    assert kw.options == {"alpha": 2, "beta": "x"}


def test_from_data_without_var_kwargs_defines_the_options(registry: Registry, bundle: DatasetBundle) -> None:
    assert task_option_names(FromDataOnly) == ["width_from_info"]
    task = build_task("fromdata", bundle, task_options={"width_from_info": False}, registry=registry)
    assert isinstance(task, FromDataOnly)
    # dropout is an __init__ option that from_data does not pass on: a clear ConfigError, not a TypeError
    with pytest.raises(ConfigError, match="task 'fromdata' has no option 'dropout'"):
        build_task("fromdata", bundle, task_options={"dropout": 0.5}, registry=registry)


def test_from_data_forwarding_var_kwargs_adds_its_options(registry: Registry, bundle: DatasetBundle) -> None:
    assert sorted(task_option_names(FromDataForwarding)) == ["hidden", "scale"]
    task = build_task("forwarding", bundle, task_options={"scale": 2.0, "hidden": 9}, registry=registry)
    assert (task.scale, task.hidden) == (2.0, 9)
    with pytest.raises(ConfigError, match=r"has no option 'hiden'; did you mean 'hidden'\?"):
        build_task("forwarding", bundle, task_options={"hiden": 9}, registry=registry)
    # required __init__ parameters are filled by from_data, not options
    assert task_option_names(RequiredInitForwarding) == ["scale", "hidden"]
    required = build_task("required", bundle, task_options={"hidden": 2}, registry=registry)
    assert (required.width, required.hidden) == (DIM, 2)
    with pytest.raises(ConfigError, match="task 'required' has no option 'width'"):
        build_task("required", bundle, task_options={"width": 2}, registry=registry)


def test_adversarial_task_option_schedule(registry: Registry, bundle: DatasetBundle) -> None:
    gan = build_task("gan", bundle, task_options={"schedule": "joint"}, registry=registry)
    assert gan.schedule == "joint"
    with pytest.raises(ConfigError, match=r"has no option 'schedul'; did you mean 'schedule'\?"):
        build_task("gan", bundle, task_options={"schedul": "joint"}, registry=registry)
