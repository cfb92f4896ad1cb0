"""Run a comparison grid: pretrain each run, evaluate it with its protocol against the
same encoder at random initialisation and a raw-feature baseline, measure its
representation geometry, and append the record to ``results.jsonl`` atomically.

Rerunning on the same output folder skips finished runs and resumes an interrupted
one from its newest checkpoint; failed runs are recorded with their error and retried.
A run is recorded as finished only after its whole budget trained and every probe ran: a
stop signal (Ctrl-C, SIGTERM) during a run stops the grid with :class:`GridInterrupted`
and records nothing for that run; a rerun resumes it (straight to the probes if its
training had completed). One process at a time writes an output folder (its lock,
:mod:`sslcore.locks`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from sslcore.build import option_problems
from sslcore.compare.baselines import raw_features
from sslcore.compare.flops import flops_per_step
from sslcore.compare.geometry import geometry
from sslcore.compare.grid import OPTION_TABLES, Evaluation, Grid, GridError, GridRun
from sslcore.engine import TrainConfig
from sslcore.engine.device import resolve_device, resolve_precision
from sslcore.errors import ConfigError, SSLCoreError, UnknownNameError
from sslcore.evaluation import extract_embeddings, get_protocol, is_task_protocol, probe_embeddings
from sslcore.io import atomic_write_text, read_jsonl, remove_orphaned_temp_files
from sslcore.locks import FolderLock
from sslcore.plugins.manager import Registry, get_registry
from sslcore.recipes import USE_RECIPE_HINT, ShortBudgetWarning, apply_recipe
from sslcore.runs import check_protocol_options, load_run, pretrain

RESULTS = "results.jsonl"


class GridInterrupted(SSLCoreError):
    """A stop signal ended a grid run before it finished; nothing was recorded for it."""

    def __init__(self, run_id: str, signal_name: str, steps: int, run_dir: Path):
        self.run_id, self.signal_name, self.steps = run_id, signal_name, steps
        super().__init__(
            f"interrupted ({signal_name}) during run {run_id} at step {steps}; its checkpoint is in "
            f"{run_dir} and nothing was recorded for it: rerun the same command to resume"
        )


def check_grid(grid: Grid, registry: Registry) -> None:
    """Before any run starts: every task, dataset, encoder and protocol exists (an
    uninstalled plugin is named here), and each task's domain matches its dataset's."""
    problems = []
    try:
        device = resolve_device(grid.settings.get("device", "auto"))
    except ConfigError as exc:
        problems.append(str(exc))
        device = None
    for run in grid.runs:
        try:
            task = registry.task(run.task)
            dataset = registry.dataset(run.dataset)
            if run.encoder is not None:
                registry.encoder(run.encoder)
            for evaluation in run.evaluations:
                check_protocol_options(
                    evaluation.protocol, get_protocol(evaluation.protocol), evaluation.options
                )
        except UnknownNameError as exc:
            problems.append(str(exc))
            continue
        except ConfigError as exc:
            problems.append(str(exc))
        if dataset.needs_root and (run.data_root is None or not Path(run.data_root).is_dir()):
            where = "no data_root is set" if run.data_root is None else f"{run.data_root} is not a folder"
            problems.append(
                f"dataset {run.dataset!r} reads files but {where}; pass --data-root or set data_root in the grid"
            )
        options = (run.task_options, run.encoder_options, run.dataset_options)
        problems += option_problems(run.task, run.dataset, run.encoder, *options, registry)
        try:  # the train table and budget as pretrain resolves them
            config = TrainConfig.from_dict(apply_recipe(task.recipe, run.train | run.budget).train)
            if device is not None:
                resolve_precision(config.precision, device)
        except ConfigError as exc:
            problems.append(f"train/budget of {run.task!r} on {run.dataset!r}: {exc}")
        if task.domain != dataset.domain:
            problems.append(
                f"task {run.task!r} is a {task.domain} task but dataset {run.dataset!r} is {dataset.domain} data"
            )
    if problems:
        unique = list(dict.fromkeys(problems))
        raise GridError(f"{grid.path}: the grid cannot run:\n  - " + "\n  - ".join(unique))


def read_results(output: Path) -> list[dict[str, Any]]:
    path = output / RESULTS
    return read_jsonl(path) if path.exists() else []


def append_result(output: Path, record: dict[str, Any]) -> None:
    """Rewrite ``results.jsonl`` with ``record`` added (replacing an earlier record of the
    same run), atomically: a crash leaves the previous complete file."""
    kept = [r for r in read_results(output) if r["run_id"] != record["run_id"]]
    lines = [json.dumps(r, sort_keys=True, default=str) for r in [*kept, record]]
    atomic_write_text(output / RESULTS, "\n".join(lines) + "\n")


def run_grid(
    grid: Grid, output: str | Path, registry: Registry | None = None, log: Any = print
) -> list[dict[str, Any]]:
    """Run every unfinished run of ``grid`` into ``output``; returns all records."""
    registry = registry or get_registry()
    output = Path(output)
    with FolderLock(output, "comparison output"):
        remove_orphaned_temp_files(output)
        return _run_grid(grid, output, registry, log)


def _run_grid(grid: Grid, output: Path, registry: Registry, log: Any) -> list[dict[str, Any]]:
    check_grid(grid, registry)
    finished = [r for r in read_results(output) if r.get("status") == "ok"]
    done = {r["run_id"] for r in finished}
    raw_cache = _raw_baselines(finished)
    for n, run in enumerate(grid.runs, 1):
        label = f"[compare {n}/{len(grid.runs)}] {run.task} on {run.dataset} (seed {run.seed}, {run.budget or 'recipe budget'})"
        if run.run_id in done:
            log(f"{label}: finished earlier, skipped")
            continue
        log(f"{label} ...")
        start = time.perf_counter()
        notes: list[str] = []
        try:
            with threadpool_limits(grid.settings.get("threads")), _short_budget_notes(notes):  # BLAS too
                record = _run_one(run, grid, output / "runs" / run.run_id, registry, raw_cache)
        except GridInterrupted:
            raise  # the user stopped the grid: no record, the rerun resumes this run
        except Exception as exc:  # a crashing run is recorded and the grid goes on
            record = _base_record(run, registry) | {
                "status": "failed",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=8),
            }
            log(f"{label}: FAILED ({record['error']}); continuing")
        record["wall_seconds"] = time.perf_counter() - start
        if notes:
            record["budget_note"] = notes[0]
            log(f"{label}: note: {notes[0]}")
        append_result(output, record)
        if record["status"] == "ok":
            log(
                f"{label}: probe {100 * record['pretrained']:.1f} % "
                f"(random init {100 * record['random_init']:.1f} %, raw {_pct(record['raw'])})"
            )
    return read_results(output)


@contextlib.contextmanager
def _short_budget_notes(notes: list[str]) -> Iterator[None]:
    """A grid sets every run's budget on purpose (a quick pipeline check, a budget sweep):
    the recipes' short-budget warning becomes a note in the log and the record, without
    the advice to drop the budget flags; other warnings pass through as they were."""
    recorded: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as recorded:  # type: ignore[assignment]
            warnings.simplefilter("always", ShortBudgetWarning)
            yield
    finally:  # once the filters are restored: a warning passed on is shown, not recorded again
        for w in recorded:
            if issubclass(w.category, ShortBudgetWarning):
                notes.append(str(w.message).replace(USE_RECIPE_HINT, "").strip())
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)


def _protocol_metrics(result: Any) -> dict[str, Any]:
    """The protocol's numbers beyond ``test_accuracy`` (link AUC / AP, the selection
    accuracy, the chosen hyper-parameters, ...), as recorded in ``metrics``."""
    return {k: v for k, v in dataclasses.asdict(result).items() if k != "protocol"}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _base_record(run: GridRun, registry: Registry) -> dict[str, Any]:
    spec = registry.task(run.task)
    return {
        "run_id": run.run_id,
        "task": run.task,
        "dataset": run.dataset,
        "encoder": run.encoder,
        "seed": run.seed,
        "budget": run.budget,
        "protocol": run.protocol,
        "domain": spec.domain,
        "paradigm": str(spec.paradigm),
        "family": spec.family,
        "config": {key: getattr(run, key) for key in OPTION_TABLES},
    }


def _run_one(
    run: GridRun, grid: Grid, run_dir: Path, registry: Registry, raw_cache: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    settings = grid.settings
    train = {"seed": run.seed, "device": settings.get("device", "auto"), "progress_bar": False}
    if settings.get("threads") is not None:
        train["threads"] = settings["threads"]
    train |= run.train | run.budget
    start = time.perf_counter()
    options = (run.task_options, run.encoder_options, run.dataset_options)
    resume = (run_dir / "config.json").exists()
    result = pretrain(
        run.task, run.dataset, run_dir, run.data_root, run.encoder, *options, resume, registry, **train
    )
    pretrain_seconds = time.perf_counter() - start
    if result.interrupted is not None:
        raise GridInterrupted(run.run_id, result.interrupted, result.steps, run_dir)
    if not np.isfinite(result.final_loss):
        raise ValueError(f"training ended with a non-finite loss ({result.final_loss})")
    device = resolve_device(train["device"])  # probe where the run trained
    untrained = load_run(run_dir, random_init=True, registry=registry)
    evaluations = {
        e.label: _evaluate(run, e, run_dir, registry, device, raw_cache, untrained) for e in run.evaluations
    }
    headline = evaluations[run.evaluations[0].label]
    random_init, bundle, config = untrained
    flops = flops_per_step(
        random_init.cpu(), bundle.pretrain, bundle.batch_size or config["train"]["batch_size"]
    )
    scores = {k: headline[k] for k in ("pretrained", "random_init", "raw", "raw_error") if k in headline}
    return _base_record(run, registry) | {
        "status": "ok",
        **scores,
        "metrics": headline["metrics"],
        "evaluations": evaluations,
        "gain_over_random": scores["pretrained"] - scores["random_init"],
        "gain_over_raw": None if scores.get("raw") is None else scores["pretrained"] - scores["raw"],
        "geometry": headline["geometry"],
        "embedding_dim": headline["embedding_dim"],
        "steps": result.steps,
        "epochs": result.epochs,
        "samples": result.samples,
        "train_seconds": result.seconds,
        "pretrain_seconds": pretrain_seconds,
        "final_loss": result.final_loss,
        "stopped_early": result.stopped_early,  # None: the whole budget trained
        "flops_per_step": flops,
        "train_flops": None if flops is None else flops * result.steps,
        "versions": config.get("versions", {}),
        "threads": torch.get_num_threads(),
    }


def _raw_baselines(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The raw-feature results of finished runs by ``raw_key``: they depend on the data,
    the protocol and the seed only, so runs that share them probe the raw features once
    (a bag of tokens over a large vocabulary takes far longer to probe than an encoder)."""
    return {
        evaluation["raw_key"]: _raw_entry(evaluation, record["run_id"])
        for record in records
        for evaluation in (record.get("evaluations") or {}).values()
        if "raw_key" in evaluation and "raw" in evaluation
    }


def _raw_entry(evaluation: dict[str, Any], run_id: str) -> dict[str, Any]:
    """What a raw-feature baseline cache keeps of an evaluation (``raw_from``: the run that probed it)."""
    return {
        "raw": evaluation["raw"],
        "raw_error": evaluation.get("raw_error"),
        "metrics": evaluation["metrics"].get("raw"),
        "raw_from": evaluation.get("raw_from", run_id),
    }


def _evaluate(
    run: GridRun,
    evaluation: Evaluation,
    run_dir: Path,
    registry: Registry,
    device: torch.device,
    raw_cache: dict[str, dict[str, Any]],
    untrained: tuple[Any, Any, dict[str, Any]],
) -> dict[str, Any]:
    """The pretrained encoder, the same encoder at random initialisation and the raw-feature
    baseline under one protocol: their test accuracy, every number the protocol reports
    (``metrics``, with the ``seconds`` each took) and the embeddings' geometry. The raw
    baseline of data, protocol and seed already probed in this grid is reused
    (``raw_from``: the run that probed it). ``untrained``: ``load_run``'s random-initialised
    run, used as it is when the evaluation overrides no dataset option."""
    probe, options = get_protocol(evaluation.protocol), evaluation.dataset_options
    pretrained, bundle, config = load_run(run_dir, registry=registry, dataset_options=options)
    key = [
        config["dataset"],
        config["dataset_options"],
        options,
        evaluation.protocol,
        run.seed,
        run.data_root,
    ]
    if evaluation.options:  # keys without them read as before protocol options existed
        key.append(evaluation.options)
    raw_key = json.dumps(key, sort_keys=True, default=str)
    if options:
        untrained = load_run(run_dir, random_init=True, registry=registry, dataset_options=options)
    random_init = untrained[0]
    evalset = bundle.evaluation
    if evalset is None:
        raise ValueError(f"dataset {run.dataset!r} has no labelled evaluation data to probe")
    test = evalset.splits["test"] if evalset.splits and "test" in evalset.splits else slice(None)
    out: dict[str, Any] = {"metrics": {}, "geometry": {}, "raw_key": raw_key}
    models = {"pretrained": pretrained, "random_init": random_init, "raw": raw_features(bundle, registry)}
    task_protocol = is_task_protocol(evaluation.protocol)
    for which, model in models.items():
        if task_protocol and which == "raw":  # fine-tuning trains an encoder: raw features have none
            out["raw"], out["raw_error"] = None, f"{evaluation.protocol} needs an encoder to train"
            continue
        if which == "raw" and raw_key in raw_cache:
            known = raw_cache[raw_key]
            out["raw"], out["raw_from"] = known["raw"], known["raw_from"]
            if known["raw_error"] is not None:
                out["raw_error"] = known["raw_error"]
            if known["metrics"] is not None:
                out["metrics"]["raw"] = known["metrics"]
            continue
        start = time.perf_counter()
        try:
            X, y = extract_embeddings(model, evalset, device)
        except (TypeError, ValueError) as exc:
            if which != "raw":
                raise
            out["raw"], out["raw_error"] = None, str(exc)
            continue
        probed = (
            probe(model, evalset, seed=run.seed, device=device, **evaluation.options)
            if task_protocol
            else probe_embeddings(probe, X, y, evalset.splits, run.seed, device, **evaluation.options)
        )
        out[which] = probed.test_accuracy
        out["metrics"][which] = _protocol_metrics(probed) | {"seconds": time.perf_counter() - start}
        if which != "raw":
            out["geometry"][which] = geometry(X[test], y[test], seed=run.seed)
            out["embedding_dim"] = int(X.shape[1])
    if "raw_from" not in out:
        raw_cache[raw_key] = _raw_entry(out, run.run_id)
    return out
