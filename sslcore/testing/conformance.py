"""The plugin conformance suite: one contract, checked over everything a plugin registers
(in the spirit of timm's tests over its whole model registry).

A plugin's test file::

    from sslcore.testing import ConformanceSuite

    class TestMyPlugin(ConformanceSuite):
        plugin = "tabular"                       # the entry-point name
        datasets = {"scarf": "breast-cancer"}    # optional: which dataset each task uses

The sslcore pytest plugin parametrises ``task_name``, ``encoder_name`` and
``dataset_name`` over the plugin's registry, so every registered component gets every
check. Other class attributes: ``plugin_module`` (register a module in-process instead
of an installed entry point), ``data_root``, ``dataset_options`` / ``task_options``
(per name), ``encoder_options`` (per encoder name: what the encoder is built with,
alone and in the tasks that use it; an encoder whose spec has a required ``name_option``
needs it here, e.g. ``{"timm": {"model": "resnet10t"}}``), ``encoders`` (task name ->
the encoder its checks build instead of the task's default, e.g. a small ``vit`` for a
ViT task), ``skip`` (name -> reason) and ``batch_size``.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Mapping
from functools import cache
from typing import Any, ClassVar

import pytest
import torch
from torch import Tensor

from sslcore.build import (
    build_dataset,
    build_encoder,
    build_task,
    check_component_options,
    component_option_specs,
    task_info,
)
from sslcore.compare.flops import step_losses
from sslcore.data import DatasetBundle
from sslcore.engine import seed_everything
from sslcore.engine.batch import move_to
from sslcore.errors import ConfigError
from sslcore.options import declaration_problems
from sslcore.paradigms import PretextTask
from sslcore.plugins.manager import Registry, get_registry
from sslcore.plugins.specs import DatasetSpec, EncoderSpec, TaskSpec, resolve_factory
from sslcore.testing.devices import (
    collate_stays_on_cpu,
    default_device_creations,
    package_roots,
    unregistered_tensors,
)


@cache
def _registry(plugin: str, plugin_module: str | None) -> Registry:
    if plugin_module is not None:
        registry = Registry()
        registry.register(importlib.import_module(plugin_module), plugin)
        return registry
    registry = get_registry()
    if plugin not in registry.plugins:
        raise pytest.UsageError(
            f"conformance suite: plugin {plugin!r} is not installed (installed: "
            f"{', '.join(registry.plugins) or 'none'}); install it or set plugin_module"
        )
    return registry


_BUNDLES: dict[tuple[int, str, str | None, tuple], DatasetBundle] = {}


class ConformanceSuite:
    """Subclass with ``plugin = "<name>"``; see the module docstring."""

    plugin: ClassVar[str] = ""
    plugin_module: ClassVar[str | None] = None
    data_root: ClassVar[str | None] = None
    datasets: ClassVar[Mapping[str, str]] = {}
    dataset_options: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    task_options: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    encoder_options: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    encoders: ClassVar[Mapping[str, str]] = {}
    skip: ClassVar[Mapping[str, str]] = {}
    batch_size: ClassVar[int] = 8

    # --- parametrisation (called by sslcore's pytest plugin at collection) ---

    @classmethod
    def registry(cls) -> Registry:
        return _registry(cls.plugin, cls.plugin_module)

    @classmethod
    def names(cls, kind: str) -> list[str]:
        info = cls.registry().plugins[cls.plugin]
        return [f"{cls.plugin}:{name}" for name in getattr(info, f"{kind}s")]

    # --- helpers ---

    def _dataset(self, name: str, options_of: str) -> DatasetBundle:
        """Dataset ``name`` with the ``dataset_options`` of ``options_of``, built once per session."""
        options = tuple(sorted(self.dataset_options.get(options_of, {}).items()))
        key = (id(self.registry()), name, self.data_root, options)
        if key not in _BUNDLES:
            _BUNDLES[key] = build_dataset(name, self.data_root, dict(options), self.registry())
        return _BUNDLES[key]

    def _skip(self, name: str) -> None:
        short = name.split(":", 1)[-1]
        if short in self.skip:
            pytest.skip(self.skip[short])

    def bundle_for(self, spec: TaskSpec | EncoderSpec) -> DatasetBundle:
        """The dataset a task (or encoder) is checked on: ``datasets[name]`` or the
        plugin's first dataset of the same domain that needs no data root."""
        registry = self.registry()
        name = self.datasets.get(spec.name)
        if name is None:
            own = [registry.dataset(d) for d in self.names("dataset")]
            candidates = [d for d in own if d.domain == spec.domain and not d.needs_root]
            candidates = candidates or [
                d for d in registry.specs("dataset", spec.domain).values() if not d.needs_root
            ]
            if not candidates:
                pytest.skip(f"no {spec.domain} dataset without a data root; set datasets[{spec.name!r}]")
            name = candidates[0].name
        return self._dataset(name, name)

    def options_of_encoder(self, name: str) -> dict[str, Any]:
        """``encoder_options`` of encoder ``name`` (looked up by its short name)."""
        return dict(self.encoder_options.get(self.registry().encoder(name).name, {}))

    def build(self, task_name: str, seed: int = 0) -> tuple[PretextTask, DatasetBundle]:
        spec = self.registry().task(task_name)
        bundle = self.bundle_for(spec)
        seed_everything(seed)
        options = self.task_options.get(spec.name, {})
        encoder = self.encoders.get(spec.name)
        used = encoder or spec.default_encoder
        encoder_options = self.options_of_encoder(used) if used is not None else None
        return build_task(task_name, bundle, encoder, options, encoder_options, self.registry()), bundle

    def samples(self, task: PretextTask, bundle: DatasetBundle) -> list[Any]:
        n = min(bundle.batch_size or self.batch_size, len(bundle.pretrain), max(self.batch_size, 2))
        n = max(n, min(task.min_batch_size, len(bundle.pretrain)))
        return [(i, bundle.pretrain[i]) if task.needs_indices else bundle.pretrain[i] for i in range(n)]

    def batch(self, task: PretextTask, bundle: DatasetBundle) -> Any:
        """A collated batch as the trainer hands it to ``forward`` (after the transfer hook)."""
        return task.on_after_batch_transfer(task.collate(self.samples(task, bundle)))

    def eval_inputs(self, bundle: DatasetBundle) -> tuple[Any, Tensor]:
        evalset = bundle.evaluation
        if evalset is None:
            pytest.skip(f"dataset {bundle.name!r} has no evaluation data")
        n = min(len(evalset.dataset), self.batch_size)
        inputs, labels = evalset.collate([evalset.dataset[i] for i in range(n)])
        return inputs, torch.as_tensor(labels)

    # --- specs ---

    def test_specs_are_valid(self) -> None:
        registry = self.registry()
        for name in self.names("task"):
            spec = registry.task(name)
            assert isinstance(spec, TaskSpec) and spec.domain and spec.summary, f"{name}: domain and summary"
            if spec.default_encoder is not None:
                assert registry.encoder(spec.default_encoder).domain == spec.domain, (
                    f"{name}: default encoder"
                )
        for name in self.names("encoder"):
            assert isinstance(registry.encoder(name), EncoderSpec)
        for name in self.names("dataset"):
            assert isinstance(registry.dataset(name), DatasetSpec) and registry.dataset(name).sample

    def test_taxonomy_and_recipes(self) -> None:
        """Each task's taxonomy resolves (from its class) and agrees with the spec's domain;
        a recipe's options are valid for the task, its encoder and its dataset."""
        registry = self.registry()
        problems = []
        for name in self.names("task"):
            spec = registry.task(name)
            try:
                facts = spec.taxonomy()
                factory = resolve_factory(spec.factory)
                if isinstance(factory, type) and getattr(factory, "domain", spec.domain) != spec.domain:
                    problems.append(f"{name}: the class's domain {factory.domain!r} is not the spec's")
                recipe = spec.recipe
                if recipe is None:
                    continue
                check_component_options("task", spec.name, factory, recipe.task_options)
                encoder = recipe.encoder or spec.default_encoder
                if encoder is not None:
                    found = registry.encoder(encoder)
                    assert found.domain == spec.domain, f"recipe encoder {encoder!r} is for {found.domain}"
                    _check_options("encoder", found, recipe.encoder_options)
                if recipe.dataset is not None and recipe.dataset_options:
                    _check_options("dataset", registry.dataset(recipe.dataset), recipe.dataset_options)
                assert facts["paradigm"] is not None
            except Exception as exc:  # noqa: BLE001 - every task's problem is reported
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
        assert not problems, "\n".join(problems)

    def test_option_declarations(self) -> None:
        """Every option with a numeric default has a type hint that sslcore checks values
        against, and every default passes its own declared checks (sslcore.options)."""
        registry = self.registry()
        problems = []
        for kind in ("task", "encoder", "dataset"):
            for name in self.names(kind):
                if name.split(":", 1)[-1] in self.skip:
                    continue
                factory = resolve_factory(registry.get(kind, name).factory)  # type: ignore[arg-type]
                problems += declaration_problems(f"{kind} {name!r}", component_option_specs(kind, factory))
        assert not problems, "\n".join(problems)

    # --- tasks ---

    def test_task_forward_backward(self, task_name: str) -> None:
        self._skip(task_name)
        task, bundle = self.build(task_name)
        task.train()
        batch = self.batch(task, bundle)
        for loss in step_losses(task, batch):
            assert loss.dim() == 0 and torch.isfinite(loss), (
                f"{task_name}: loss {loss} is not a finite scalar"
            )
            loss.backward()
        grads = [p.grad for p in task.encoder.parameters() if p.grad is not None]
        assert grads, f"{task_name}: no gradient reaches the encoder"
        assert all(torch.isfinite(g).all() for g in grads), f"{task_name}: non-finite encoder gradient"
        assert any(g.abs().sum() > 0 for g in grads), f"{task_name}: the encoder's gradients are all zero"

    def test_task_device_contract(self, task_name: str) -> None:
        """The device contract (docs/plugins.md), checked on the CPU (sslcore.testing.devices):
        collate never reads the task's state; the task's own code creates no tensor on the
        default device in the transfer hook, the losses or embed; no unregistered tensors."""
        self._skip(task_name)
        task, bundle = self.build(task_name)
        task.train()
        samples = self.samples(task, bundle)
        problem = collate_stays_on_cpu(task, samples)
        assert problem is None, f"{task_name}: {problem}"
        loose = unregistered_tensors(task)
        assert not loose, (
            f"{task_name}: tensor attributes {loose} do not move with the task; register_buffer them"
        )
        inputs, _ = self.eval_inputs(bundle) if bundle.evaluation is not None else (None, None)
        batch = task.collate(samples)  # CPU work in a worker: may create CPU tensors freely
        with default_device_creations(package_roots(task), host_reads=True) as found:
            step_losses(task, task.on_after_batch_transfer(batch))
        with default_device_creations(package_roots(task)) as found_embed:
            if inputs is not None:
                task.eval()
                with torch.no_grad():
                    task.embed(inputs)
        found += found_embed
        lines = "\n  ".join(sorted({str(c) for c in found}))
        assert not found, (
            f"{task_name} breaks the device contract: pass device=<an input>.device to factories (on a GPU "
            f"the default device is the CPU, beside CUDA inputs), return metrics as 0-d tensors:\n  {lines}"
        )

    def test_task_embed_shape(self, task_name: str) -> None:
        self._skip(task_name)
        task, bundle = self.build(task_name)
        inputs, labels = self.eval_inputs(bundle)
        task.eval()
        with torch.no_grad():
            z = task.embed(inputs)
        expected = (len(labels), task.encoder.output_dim)
        assert tuple(z.shape) == expected, f"{task_name}: embed gave {tuple(z.shape)}, expected {expected}"
        assert torch.isfinite(z).all()

    def test_task_state_dict_round_trip(self, task_name: str) -> None:
        self._skip(task_name)
        task, bundle = self.build(task_name, seed=0)
        fresh, _ = self.build(task_name, seed=1)
        buffer = io.BytesIO()
        torch.save(task.state_dict(), buffer)
        buffer.seek(0)
        fresh.load_state_dict(torch.load(buffer, weights_only=True))
        inputs, _ = self.eval_inputs(bundle)
        task.eval()
        fresh.eval()
        with torch.no_grad():
            assert torch.allclose(task.embed(inputs), fresh.embed(inputs), atol=1e-6)

    def test_task_is_deterministic_under_a_seed(self, task_name: str) -> None:
        self._skip(task_name)
        losses = []
        for _ in range(2):
            task, bundle = self.build(task_name, seed=0)
            task.train()
            seed_everything(0)
            batch = move_to(self.batch(task, bundle), "cpu")
            losses.append([float(loss.detach()) for loss in step_losses(task, batch)])
        assert losses[0] == pytest.approx(losses[1], rel=1e-5), f"{task_name}: same seed, different losses"

    def test_task_rejects_an_unknown_option(self, task_name: str) -> None:
        self._skip(task_name)
        bundle = self.bundle_for(self.registry().task(task_name))
        with pytest.raises(ConfigError, match="no_such_option"):
            build_task(task_name, bundle, None, {"no_such_option": 1}, None, self.registry())

    # --- encoders and datasets ---

    def test_encoder_contract(self, encoder_name: str) -> None:
        """The encoder builds with its ``encoder_options`` (a ``name_option`` also from the
        name, ``timm:<model>``), has a positive integer ``output_dim`` and rejects an
        unknown option."""
        self._skip(encoder_name)
        registry = self.registry()
        spec = registry.encoder(encoder_name)
        bundle = self.bundle_for(spec)
        options = self.options_of_encoder(encoder_name)
        if spec.name_option is not None and spec.name_option not in options:
            pytest.fail(
                f"{encoder_name} is named with its {spec.name_option} ({encoder_name}:<{spec.name_option}>): "
                f"give the suite one, encoder_options = {{{spec.name!r}: {{{spec.name_option!r}: ...}}}}"
            )
        encoder = build_encoder(encoder_name, task_info(bundle), options, registry)
        assert isinstance(encoder.output_dim, int) and encoder.output_dim > 0
        if spec.name_option is not None:  # the same encoder, its option given in the name
            rest = {k: v for k, v in options.items() if k != spec.name_option}
            named = build_encoder(
                f"{encoder_name}:{options[spec.name_option]}", task_info(bundle), rest, registry
            )
            assert named.output_dim == encoder.output_dim, (
                f"{encoder_name}: the name form builds another encoder"
            )
        with pytest.raises(ConfigError, match="no_such_option"):
            build_encoder(encoder_name, task_info(bundle), {**options, "no_such_option": 1}, registry)

    def test_dataset_contract(self, dataset_name: str) -> None:
        self._skip(dataset_name)
        spec = self.registry().dataset(dataset_name)
        if spec.needs_root and self.data_root is None:
            pytest.skip(f"{dataset_name} needs a data root; set data_root")
        bundle = self._dataset(dataset_name, spec.name)
        assert bundle.domain == spec.domain and len(bundle.pretrain) > 0
        if bundle.evaluation is not None and bundle.evaluation.splits:
            n = _num_rows(bundle)
            for split, rows in bundle.evaluation.splits.items():
                assert len(rows) > 0, f"{dataset_name}: split {split!r} is empty"
                if n is not None:
                    assert 0 <= rows.min() and rows.max() < n, f"{dataset_name}: split {split!r} out of range"


def _check_options(kind: str, spec: EncoderSpec | DatasetSpec, options: Mapping[str, Any]) -> None:
    check_component_options(kind, spec.name, resolve_factory(spec.factory), options)


def _num_rows(bundle: DatasetBundle) -> int | None:
    """Rows the evaluation set embeds to (items, or nodes of a single transductive graph)."""
    items = bundle.evaluation.dataset
    if len(items) == 1:
        labels = items[0][1]
        return len(labels) if hasattr(labels, "__len__") else 1
    return len(items)
