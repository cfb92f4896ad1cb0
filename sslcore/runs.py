"""Runs: pretrain a registered task on a registered dataset into a run folder (``config.json``:
everything needed to rebuild the task; ``metrics.jsonl``, ``checkpoints/step_*.pt``,
``eval_<protocol>.json``), and evaluate a run folder. The CLI and the comparison runner are
thin layers over these. Under ``torchrun`` only rank 0 writes run files, and a restarted job
resumes without ``--resume`` (``docs/distributed.md``, "Elastic restarts")."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import platform
import time
import warnings
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sslcore.build import build_dataset, build_task, check_run_options
from sslcore.data import DatasetBundle
from sslcore.engine import CheckpointDir, TrainConfig, Trainer, TrainResult, seed_everything
from sslcore.engine import distributed as ddp
from sslcore.engine.config import BUDGET_KEYS, FIELDS
from sslcore.engine.device import resolve_device, resolve_precision
from sslcore.engine.provenance import software_versions
from sslcore.errors import CheckpointError, ConfigError, suggest
from sslcore.evaluation import extract_embeddings, get_protocol, is_task_protocol, probe_embeddings
from sslcore.io import atomic_write_json, read_json
from sslcore.locks import FolderLock
from sslcore.options import FLAGS, check_values, option_specs
from sslcore.paradigms import PretextTask
from sslcore.plugins.manager import Registry, get_registry
from sslcore.recipes import (
    AppliedRecipe,
    Recipe,
    ShortBudgetWarning,
    apply_recipe,
    short_budget_warning,
)

CONFIG = "config.json"
_OPTIONS = ("task_options", "encoder_options", "dataset_options")


def versions(registry: Registry | None = None) -> dict[str, str]:
    """Versions of sslcore, its plugins and the main libraries."""
    out = software_versions()
    for dist in ("numpy", "scikit-learn"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out | {info.distribution: info.version for info in (registry or get_registry()).plugins.values()}


def describe_encoder(encoder: str | nn.Module | None) -> str | dict[str, Any] | None:
    """How ``config.json`` records an encoder: a registered name as is (``None``: the
    task's default), a user module as ``{"user_module": "<module>.<qualname>",
    "output_dim": D}`` (its weights are in the checkpoints)."""
    if encoder is None or isinstance(encoder, str):
        return encoder
    cls = type(encoder)
    return {
        "user_module": f"{cls.__module__}.{cls.__qualname__}",
        "output_dim": getattr(encoder, "output_dim", None),
    }


def pretrain(
    task: str,
    dataset: str,
    output: str | Path,
    data_root: str | Path | None = None,
    encoder: str | nn.Module | None = None,
    task_options: Mapping[str, Any] | None = None,
    encoder_options: Mapping[str, Any] | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    resume: bool = False,
    registry: Registry | None = None,
    **train: Any,
) -> TrainResult:
    """Pretrain ``task`` on ``dataset``; ``train`` are :class:`TrainConfig` fields
    (``steps=``, ``epochs=``, ``seconds=``, ``lr=``, ``batch_size=``, ...).

    ``encoder``: a registered encoder name (``None``: the task's default) or a user
    ``nn.Module`` with an integer ``output_dim``, trained in place; evaluate such a run
    with ``evaluate(output, encoder=<a fresh instance of the same class>)``.

    The task's recipe fills what is not given (README.md, "recipe"; ``docs/plugins.md``). A
    resumed run continues with the configuration its ``config.json`` recorded; values given
    replace recorded ones (a budget, e.g., to extend the run), and options must agree."""
    registry = registry or get_registry()
    if _resuming(Path(output), resume) and (Path(output) / CONFIG).exists():
        saved = read_run_config(output)
        plan = _resume_plan(saved, train, encoder, task_options, encoder_options, dataset_options)
    else:
        plan = apply_recipe(
            registry.task(task).recipe,
            train,
            encoder,
            task_options,
            encoder_options,
            dataset_options,
            dataset=registry.dataset(dataset).name,
            default_encoder=registry.task(task).default_encoder,
            registry=registry,
        )
    if not any(plan.train.get(k) is not None for k in BUDGET_KEYS):
        raise ConfigError(
            f"no training budget: task {task!r} has no recipe budget, so give one: epochs, steps "
            "or seconds (--epochs / --steps / --seconds)"
        )
    config = TrainConfig.from_dict(plan.train)
    resolve_precision(config.precision, resolve_device(config.device))  # before any data loads
    built = plan.encoder if plan.encoder is not None else registry.task(task).default_encoder
    check_run_options(
        task, dataset, built, plan.task_options, plan.encoder_options, plan.dataset_options, registry
    )
    created = ddp.init_from_env(config.device)
    try:
        with FolderLock(output) if ddp.is_main() else contextlib.nullcontext():
            result = _pretrain(task, dataset, Path(output), data_root, plan, resume, registry, config)
        if created:  # every rank done before the group goes: a gloo rank torn down while
            ddp.barrier()  # its peer still has work in flight can abort at exit (SIGABRT)
        return result
    finally:
        if created:
            ddp.destroy()


def _resume_plan(
    saved: Mapping[str, Any],
    train: Mapping[str, Any],
    encoder: str | nn.Module | None,
    task_options: Mapping[str, Any] | None,
    encoder_options: Mapping[str, Any] | None,
    dataset_options: Mapping[str, Any] | None,
) -> AppliedRecipe:
    """A resumed run's configuration: what its ``config.json`` recorded, with the values the
    user gives on top (see :func:`pretrain`)."""
    merged = {k: v for k, v in saved["train"].items() if k in FIELDS}
    if any(train.get(k) is not None for k in BUDGET_KEYS):
        merged |= dict.fromkeys(BUDGET_KEYS)
    merged |= {k: v for k, v in train.items() if v is not None or k not in BUDGET_KEYS}
    if encoder is None and not isinstance(saved.get("encoder"), dict):
        encoder = saved.get("encoder")
    record = saved.get("recipe") or {}
    try:
        recipe = Recipe(**record["declared"]) if record else None
    except (KeyError, TypeError, ConfigError):
        recipe = None  # an unreadable record: nothing to warn against, the configuration stands
    return AppliedRecipe(
        merged,
        encoder,
        {**saved["task_options"], **(task_options or {})},
        {**saved["encoder_options"], **(encoder_options or {})},
        {**saved["dataset_options"], **(dataset_options or {})},
        dict(record.get("applied", {})),
        recipe,
    )


def _resuming(output: Path, resume: bool) -> bool:
    """``resume``, or a job torchrun restarted after a failure (it continues the run)."""
    return resume or (ddp.elastic_restart_count() > 0 and bool(CheckpointDir(output / "checkpoints").paths()))


def _pretrain(
    task: str,
    dataset: str,
    output: Path,
    data_root: str | Path | None,
    plan: AppliedRecipe,
    resume: bool,
    registry: Registry,
    config: TrainConfig,
) -> TrainResult:
    resume = _resuming(output, resume)  # a torchrun restart continues the run
    encoder = plan.encoder
    run = {
        "task": registry.qualified_name("task", task),
        "dataset": registry.qualified_name("dataset", dataset),
        "encoder": describe_encoder(encoder),
        "data_root": str(Path(data_root).resolve()) if data_root is not None else None,
        **{key: getattr(plan, key) for key in _OPTIONS},
        "train": config.to_dict(),
        "recipe": plan.record(),  # a resumed run keeps the record it started with
    }
    config_path = output / CONFIG
    if config_path.exists():
        previous = read_run_config(output)
        if not resume and CheckpointDir(output / "checkpoints").paths():
            raise ConfigError(
                f"{output} already holds a run; pass --resume to continue it or choose a new --output"
            )
        changed = [
            k for k in ("task", "dataset", "encoder", *_OPTIONS) if resume and previous.get(k) != run[k]
        ]
        if changed:
            raise ConfigError(f"cannot resume {output}: {', '.join(changed)} differ from the saved run")
    seed_everything(config.seed)
    bundle = build_dataset(run["dataset"], data_root, run["dataset_options"], registry)
    model = build_task(run["task"], bundle, encoder, run["task_options"], run["encoder_options"], registry)
    run["versions"] = versions(registry)
    run["hardware"] = {
        "machine": platform.machine(),
        "cpus": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    run["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    run["world_size"] = ddp.world_size()
    if ddp.is_main():
        _warn_short_budget(config, plan.recipe, bundle)
        atomic_write_json(config_path, run)
    trainer = Trainer(model, config, output, run_info=run)
    return trainer.fit(bundle.pretrain, batch_size=bundle.batch_size, resume=resume)


def _warn_short_budget(config: TrainConfig, recipe: Recipe | None, bundle: DatasetBundle) -> None:
    """Warn when the budget is obviously too short next to the recipe's
    (:func:`sslcore.recipes.short_budget_warning`), counting steps as the trainer will."""
    try:
        n = len(bundle.pretrain)  # type: ignore[arg-type]
    except TypeError:
        return
    batch = bundle.batch_size or config.batch_size
    message = short_budget_warning(config, recipe, n // batch if n > batch else 1)
    if message is not None:
        warnings.warn(message, ShortBudgetWarning, stacklevel=4)


def load_run(
    run_dir: str | Path,
    data_root: str | Path | None = None,
    random_init: bool = False,
    registry: Registry | None = None,
    encoder: nn.Module | None = None,
    dataset_options: Mapping[str, Any] | None = None,
) -> tuple[PretextTask, DatasetBundle, dict[str, Any]]:
    """Rebuild a run's task (with its latest checkpoint unless ``random_init``) and dataset.
    ``encoder``: for a run pretrained with a user module, a fresh instance of it (see
    :func:`pretrain`); ``dataset_options``: overrides of the run's, e.g. ``{"probe": "mr"}``."""
    registry = registry or get_registry()
    run_dir = _require_run_folder(run_dir)
    run = read_run_config(run_dir)
    root = data_root if data_root is not None else run["data_root"]
    seed_everything(run["train"]["seed"])
    encoder = _run_encoder(run_dir, run["encoder"], encoder)
    options = {**run["dataset_options"], **(dataset_options or {})}
    bundle = build_dataset(run["dataset"], root, options, registry)
    task = build_task(run["task"], bundle, encoder, run["task_options"], run["encoder_options"], registry)
    if not random_init:
        found = CheckpointDir(run_dir / "checkpoints").latest()
        if found is None:
            raise CheckpointError(
                f"{run_dir} has no readable checkpoint; pretrain first or pass --random-init"
            )
        task.load_state_dict(found[1]["model"])
    return task, bundle, run


def _require_run_folder(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists():
        raise ConfigError(
            f"{run_dir} is not a run folder: {CONFIG} is missing (create one with `sslcore pretrain`)"
        )
    return run_dir


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """A run folder's ``config.json``, checked: ConfigError naming the file, what is wrong
    and how to repair it (rather than a KeyError deep inside)."""
    path = Path(run_dir) / CONFIG
    run = read_json(path)
    fix = (
        "restore it from a copy, or start the run over in a new folder (the checkpoints also "
        "hold it: torch.load(<checkpoint>, weights_only=True)['run'])"
    )
    if not isinstance(run, dict):
        raise ConfigError(f"{path} must hold a JSON object, not {type(run).__name__}; {fix}")
    expected = dict.fromkeys(("task", "dataset"), str) | dict.fromkeys(("train", *_OPTIONS), dict)
    problems = [f"{key!r} is missing" for key in expected if key not in run]
    problems += [
        f"{key!r} must be a {kind.__name__}, not {type(run[key]).__name__}"
        for key, kind in expected.items()
        if key in run and not isinstance(run[key], kind)
    ]
    if not problems and not isinstance(run["train"].get("seed"), int):
        problems.append("'train' has no integer 'seed'")
    if problems:
        raise ConfigError(f"{path} is not a valid run configuration: {'; '.join(problems)}; {fix}")
    return run


def _run_encoder(
    run_dir: Path, recorded: str | dict[str, Any] | None, given: nn.Module | None
) -> str | nn.Module | None:
    """The encoder to rebuild a run's task with: the recorded name, or the user module
    ``given`` after checking it matches the recorded description."""
    if not isinstance(recorded, dict):
        if given is not None:
            which = repr(recorded) if recorded is not None else "(the task's default)"
            raise ConfigError(
                f"{run_dir} was pretrained with the registered encoder {which}, which config.json "
                f"rebuilds; do not pass encoder="
            )
        return recorded
    if given is None:
        cls = str(recorded.get("user_module", "?"))
        raise ConfigError(
            f"{run_dir} was pretrained with a user encoder module ({cls}, output_dim="
            f"{recorded.get('output_dim')}), which config.json cannot rebuild; pass a fresh instance "
            f"of it and the checkpoint's weights are loaded into it: "
            f"evaluate({str(run_dir)!r}, encoder={cls.rsplit('.', 1)[-1]}(...))"
        )
    if describe_encoder(given) != recorded:
        raise ConfigError(
            f"{run_dir} was pretrained with encoder {recorded}, but the module passed is "
            f"{describe_encoder(given)}"
        )
    return given


def check_protocol_options(name: str, probe: Any, options: Mapping[str, Any]) -> None:
    """Unknown keyword options of protocol ``name`` (the function ``probe``) and bad values:
    a :class:`ConfigError` before anything is loaded."""
    fixed = {"X", "y", "splits", "task", "evalset", "seed", "device"}
    known = [p for p in inspect.signature(probe).parameters if p not in fixed]
    unknown = sorted(set(options) - set(known))
    if unknown:
        hint = (suggest(unknown[0], known) if len(unknown) == 1 else "") or "."
        raise ConfigError(
            f"protocol {name!r} has no option {', '.join(unknown)}{hint} Its options: {', '.join(known)}"
        )
    check_values(f"protocol {name!r}", option_specs(probe, exclude=fixed), options, FLAGS["protocol"])


def evaluate(
    run_dir: str | Path,
    protocol: str = "linear",
    data_root: str | Path | None = None,
    random_init: bool = False,
    registry: Registry | None = None,
    device: str = "auto",
    encoder: nn.Module | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    **protocol_options: Any,
) -> dict[str, Any]:
    """Evaluate a run's ``embed`` with ``protocol`` (frozen, or fine-tuned and then restored for
    ``finetune``; ``protocol_options`` go to the protocol); writes
    ``eval_<protocol>[_random][_<key>-<value>...].json`` (the last part names the
    ``dataset_options`` overrides, see :func:`load_run`, as does ``encoder``)."""
    probe = get_protocol(protocol)
    check_protocol_options(protocol, probe, protocol_options)
    dev = resolve_device(device)  # before anything loads
    run_dir = _require_run_folder(run_dir)
    with FolderLock(run_dir):  # not while the run trains, nor beside another evaluation of it
        task, bundle, run = load_run(run_dir, data_root, random_init, registry, encoder, dataset_options)
        if bundle.evaluation is None:
            raise ConfigError(f"dataset {run['dataset']!r} has no labelled evaluation data")
        start = time.perf_counter()
        if is_task_protocol(protocol):  # trains the encoder on the labels, restores it after
            result = probe(task, bundle.evaluation, seed=run["train"]["seed"], device=dev, **protocol_options)
            embedding_dim = getattr(task.encoder, "output_dim", None)
        else:
            X, y = extract_embeddings(task, bundle.evaluation, dev)
            result = probe_embeddings(
                probe, X, y, bundle.evaluation.splits, run["train"]["seed"], dev, **protocol_options
            )
            embedding_dim = int(X.shape[1])
        record = {
            **dataclasses.asdict(result),
            "run": str(run_dir),
            "task": run["task"],
            "dataset": run["dataset"],
            "random_init": random_init,
            "dataset_options": dict(dataset_options or {}),
            "embedding_dim": embedding_dim,
            "protocol_options": dict(protocol_options),
            "seconds": time.perf_counter() - start,
        }
        suffix = "_random" if random_init else ""
        suffix += "".join(f"_{key}-{value}" for key, value in sorted((dataset_options or {}).items()))
        atomic_write_json(run_dir / f"eval_{protocol}{suffix}.json", record)
    return record
