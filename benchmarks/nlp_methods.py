"""NLP methods benchmark (issue 5): every text pretext task on WikiText-2, tiny encoder.

The (task, seed) runs are an ``sslcore.compare`` grid (``_common.run_benchmark_grid``):
each pretrains with the task's registered recipe alone (``TaskSpec.recipe``; ``sslcore
tasks NAME`` prints it: the same tiny BERT-style encoder, ``bert`` preset ``tiny``, mean
pooling, dropout 0.1, ELECTRA's discriminator too; the same locally trained WordPiece
tokenizer, ``vocab_size=8000``, cached by corpus hash; ``max_length=64`` blocks; 900 s of
CPU wall clock). This script passes only the seed, ``--task-opt`` and ``--seconds`` /
``--steps`` (a step cap). The grid then probes the frozen encoder, the same encoder at
random initialisation and a bag of tokens (the ``raw`` entries, stored, not in the table)
with the core linear protocol on MR, CR, MPQA (10-fold CV, C by an inner 5-fold search)
and SST-2 (C on dev, accuracy on test), each set rebuilt with the run's tokenizer.
Tokens per second = the non-padding input tokens the task logs (``tokens`` metric) /
training time.

Beside them: TF-IDF (word uni+bigrams, sublinear tf) + logistic regression on the raw
sentences, with the core probe's C grid and selection (same folds, same dev split).
And the protocol of the ELECTRA paper itself: each run and its random init fine-tuned on
SST-2 with the core ``finetune`` protocol (encoder + linear head; learning rate and epoch
chosen on dev; ``FINETUNE``) with ``--finetune`` -- reported beside the probes, not a
criterion of the issue.
Then continued pretraining: the MLM run of the first seed is exported with
``sslcore.export.export_run`` and pretrained again with ``mlm`` from the export's
``transformers`` directory (``--encoder-opt pretrained=<dir>``,
``--dataset-opt tokenizer=<dir>``) for ``--continue-seconds``; its first logged loss must
lie below the from-scratch run's and its tokenizer must be the exported one.

Acceptance: ELECTRA's average probe accuracy (4 sets x seeds) above MLM's; every task's
average above its random-init average; continued pretraining runs, starts below the
from-scratch loss and keeps the tokenizer. TF-IDF is reported, not a criterion.

The grid (``<cache>/benchmarks/nlp_methods/grid``, locked: one process at a time) resumes:
finished runs are skipped, an interrupted one continues from its checkpoint. A rerun skips
the (task, seed) pairs already in the results file; a stored run that lacks a set of
``--probes`` is probed on it with ``sslcore.runs.evaluate`` (a grid run with more probes
would be a new run and retrain).
The results file is written atomically after the grid and after each later piece;
``--force`` reruns everything (a fresh grid folder).

    .venv/bin/python benchmarks/nlp_methods.py [--tasks mlm electra ...] [--seeds 0 1 2]
        [--seconds 900] [--steps N] [--probes mr cr mpqa sst2] [--threads 1] [--data-root DIR]
        [--task-opt KEY=VALUE ...] [--finetune]

Writes ``benchmarks/results/nlp_methods.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import finished, provenance, run_benchmark_grid, write_result
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from threadpoolctl import threadpool_limits

from sslcore.cli import parse_assignments
from sslcore.compare.grid import Evaluation, GridRun
from sslcore.data import cache_dir
from sslcore.evaluation.linear import DEFAULT_CS
from sslcore.evaluation.splits import selection_split
from sslcore.io import atomic_write_json, read_json
from sslcore.plugins.manager import get_registry
from sslcore.recipes import Recipe
from sslcore.runs import evaluate, load_run, pretrain

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "nlp_methods.json"
DATA_ROOT = HERE.parent.parent / "shared" / "data"  # the shared data folder beside the repository

PROBES = ("mr", "cr", "mpqa", "sst2")
PROBE_NAMES = {"mr": "MR", "cr": "CR", "mpqa": "MPQA", "sst2": "SST-2"}
TASKS = ("mlm", "electra", "simcse", "sop", "nsp", "clm")


def registered_recipe(task: str) -> Recipe:
    """``task``'s registered recipe (the source of every training setting here)."""
    found = get_registry().task(task).recipe
    assert found is not None, f"{task} has no recipe"
    return found


#: task -> (task options, batch size, learning rate), as the registered recipes give them:
#: MLM is nlp_foundation's recipe; ELECTRA and CLM get the same batch and rate (equal
#: compute, no per-task tuning); SimCSE / SOP / NSP the plugin README's suggested CPU recipes
RECIPES: dict[str, tuple[dict[str, Any], int, float]] = {
    t: (dict(r.task_options), r.train["batch_size"], r.train["lr"])
    for t, r in zip(TASKS, map(registered_recipe, TASKS))
}
# one encoder for every task (ELECTRA's recipe too: its `electra` tiny preset is the same transformer)
ENCODER = registered_recipe("electra").encoder
ENCODER_OPTIONS: dict[str, Any] = dict(registered_recipe("mlm").encoder_options)
DATASET_OPTIONS: dict[str, Any] = dict(registered_recipe("mlm").dataset_options)
TRAIN: dict[str, Any] = {
    k: v
    for k, v in registered_recipe("mlm").train.items()
    if k not in ("seconds", "steps", "epochs", "batch_size", "lr")
}
RECIPE_SECONDS = {t: float(registered_recipe(t).budget["seconds"]) for t in TASKS}
#: what the results file keeps of each linear probe
PROBE_FIELDS = ("test_accuracy", "test_std", "selected", "num_test", "seconds")
TFIDF_OPTIONS: dict[str, Any] = {"ngram_range": (1, 2), "sublinear_tf": True, "lowercase": True}
#: GLUE-style fine-tuning (the ELECTRA paper's protocol) on SST-2, beside the frozen probes:
#: encoder + linear head, learning rate and epoch chosen on the dev split (the grid of the
#: BERT miniatures, Turc et al. 2019, widened by 1e-3 for from-scratch tiny encoders).
FINETUNE: dict[str, Any] = {"lrs": [1e-4, 3e-4, 1e-3], "epochs": 4, "batch_size": 32}
FINETUNE_SET = "sst2"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="pretraining budget per run (wall clock; default: the recipes', 900 s)",
    )
    p.add_argument("--steps", type=int, default=None, help="also cap pretraining at this many steps")
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="what the seconds count: wall clock (the tables') or the training process's CPU time, "
        "which other programs on the machine do not shorten (docs/training.md)",
    )
    p.add_argument("--probes", nargs="+", default=list(PROBES), choices=list(PROBES))
    p.add_argument(
        "--task-opt",
        action="append",
        metavar="KEY=VALUE",
        help="override a task option of every picked task's recipe (recorded in each run's recipe; "
        "results are keyed by task and seed, so use a separate --output for a variant)",
    )
    p.add_argument("--continue-seconds", type=float, default=120.0, help="continued MLM pretraining budget")
    p.add_argument("--no-continue", action="store_true", help="skip the continued-pretraining check")
    p.add_argument("--no-tfidf", action="store_true", help="skip the TF-IDF baseline")
    p.add_argument(
        "--finetune",
        action="store_true",
        help="also fine-tune each run and its random init on SST-2 (about 6 minutes each on one thread)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch / BLAS intra-op threads")
    p.add_argument(
        "--data-root", type=Path, default=DATA_ROOT, help="folder holding text/corpus and text/senteval"
    )
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--force", action="store_true", help="rerun (task, seed) pairs already in the results")
    p.add_argument(
        "--merge-from",
        type=Path,
        nargs="+",
        default=[],
        help="copy the runs, TF-IDF seeds and recorded commands of these results files (e.g. of one seed each, "
        "or of another machine) into --output",
    )
    args = p.parse_args()
    args.task_options = parse_assignments(args.task_opt, "--task-opt")
    if args.seconds is not None and not 0 < args.seconds <= 900:
        p.error("--seconds must be in (0, 900]: the acceptance allows at most 15 minutes per task")
    return args


# -- the (task, seed) runs: an sslcore.compare grid --------------------------------------------


def training_summary(run_dir: Path, seconds: float) -> dict[str, Any]:
    """First / last logged record and token throughput from the run's ``metrics.jsonl``
    (each record averages the metrics of the steps since the previous one)."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    tokens, previous_step = 0.0, 0
    for record in records:
        tokens += record.get("tokens", 0.0) * (record["step"] - previous_step)
        previous_step = record["step"]
    drop = ("lr", "elapsed", "epoch", "peak_memory_mb", "samples_per_sec")
    return {
        "first_logged": {k: v for k, v in records[0].items() if k not in drop},
        "last_logged": {k: v for k, v in records[-1].items() if k not in drop},
        "tokens": tokens,
        "tokens_per_second": tokens / seconds if "tokens" in records[0] else None,
    }


def recipe(task: str, args: argparse.Namespace) -> tuple[dict[str, Any], int, float]:
    """``task``'s (options, batch size, learning rate), with the ``--task-opt`` overrides."""
    options, batch_size, lr = RECIPES[task]
    return {**options, **args.task_options}, batch_size, lr


def grid_runs(record: dict[str, Any], args: argparse.Namespace) -> dict[str, GridRun]:
    """``task/seed`` -> its grid run for the pairs not yet in ``record`` (all with
    ``--force``): the recipe, the seed, ``--task-opt``, a linear probe per SentEval set and
    the budget ``{}`` (the recipe's) unless ``--seconds`` / ``--steps`` set one (a step cap
    keeps the recipe's seconds)."""
    evaluations = tuple(Evaluation("linear", {"probe": p}) for p in PROBES if p in args.probes)
    budget = {k: v for k, v in (("seconds", args.seconds), ("steps", args.steps)) if v is not None}
    return {
        f"{task}/{seed}": GridRun(
            task,
            "wikitext2",
            None,
            seed,
            {"seconds": RECIPE_SECONDS[task]} | budget if budget else {},
            task_options=dict(args.task_options),
            train={"clock": args.clock} if args.clock != "wall" else {},
            evaluations=evaluations,
            data_root=str(args.data_root.resolve()),
        )
        for task in args.tasks
        for seed in args.seeds
        if args.force or f"{task}/{seed}" not in record["runs"]
    }


def stored_run(run: GridRun, found: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The compare record ``found`` of ``run`` as the results file stores a (task, seed):
    ``probes[set][model]`` for the ``pretrained`` encoder, its ``random_init`` and the
    ``raw`` bag of tokens (``PROBE_FIELDS`` of each); tokens/s from its ``metrics.jsonl``."""
    options, batch_size, lr = recipe(run.task, args)
    probes = {
        e.dataset_options["probe"]: {
            model: {k: metrics[k] for k in PROBE_FIELDS}
            for model, metrics in found["evaluations"][e.label]["metrics"].items()
        }
        for e in run.evaluations
    }
    return {
        "paradigm": found["paradigm"],
        "family": found["family"],
        "budget_seconds": run.budget.get("seconds", RECIPE_SECONDS[run.task]),
        "budget_steps": run.budget.get("steps"),
        "clock": run.train.get("clock", "wall"),
        **{k: found[k] for k in ("steps", "epochs", "samples", "final_loss")},
        "seconds": found["train_seconds"],
        "logs": training_summary(Path(found["run_dir"]), found["train_seconds"]),
        "recipe": {"task_options": options, "batch_size": batch_size, "lr": lr, **TRAIN},
        "run_id": run.run_id,
        "run_dir": found["run_dir"],
        "probes": probes,
        "seed": run.seed,
    }


def train(
    task: str, seed: int, args: argparse.Namespace, run_dir: Path, **overrides: Any
) -> tuple[Any, dict[str, Any]]:
    """``pretrain`` ``task`` with its registered recipe outside the grid (continued
    pretraining, ``nlp_electra_scaling``); the budget is ``args.seconds`` / ``args.steps``
    (both None: the recipe's), ``args.task_options`` override task options and
    ``overrides`` replace options (merged key by key with the recipe's), the budget, the
    batch size, the learning rate or other training fields."""
    budget = (
        {} if args.seconds is None and args.steps is None else {"seconds": args.seconds, "steps": args.steps}
    )
    kwargs: dict[str, Any] = {"task_options": dict(args.task_options), **budget, **overrides}
    result = pretrain(
        task,
        "wikitext2",
        output=run_dir,
        data_root=args.data_root,
        seed=seed,
        progress_bar=False,
        device="cpu",
        **kwargs,
    )
    finished(result, run_dir)
    return result, training_summary(run_dir, result.seconds)


def evaluate_both(
    run_dir: str, protocol: str, name: str, fields: tuple[str, ...], **options: Any
) -> dict[str, Any]:
    """``fields`` of ``protocol`` on SentEval set ``name`` for the run's trained encoder
    (``pretrained``) and the same encoder at ``random_init``."""
    return {
        which: {
            k: v
            for k, v in evaluate(
                run_dir,
                protocol,
                random_init=which == "random_init",
                device="cpu",
                dataset_options={"probe": name},
                **options,
            ).items()
            if k in fields
        }
        for which in ("pretrained", "random_init")
    }


def add_probes(entry: dict[str, Any], probes: list[str], force: bool) -> bool:
    """Linear-probe the run on each set in ``probes`` not yet in ``entry``: a run stored with
    fewer probes (a grid run with more would retrain); True if any was added."""
    missing = [name for name in probes if force or name not in entry["probes"]]
    for name in missing:
        entry["probes"][name] = evaluate_both(entry["run_dir"], "linear", name, PROBE_FIELDS)
    return bool(missing)


def add_finetune(entry: dict[str, Any], force: bool) -> bool:
    """Fine-tune the trained and the random-init encoder on SST-2 unless stored."""
    if "finetune" in entry and not force:
        return False
    fields = ("test_accuracy", "selection_accuracy", "selected", "num_test", "seconds")
    tuned = evaluate_both(entry["run_dir"], "finetune", FINETUNE_SET, fields, **FINETUNE)
    entry["finetune"] = {"set": FINETUNE_SET, "options": FINETUNE, **tuned}
    return True


# -- TF-IDF baseline --------------------------------------------------------------------------


def _tfidf_model(C: float, seed: int) -> Pipeline:
    return make_pipeline(
        TfidfVectorizer(**TFIDF_OPTIONS), LogisticRegression(C=C, max_iter=1000, random_state=seed)
    )


def tfidf_probe(name: str, seed: int, root: Path) -> dict[str, Any]:
    """TF-IDF + logistic regression on the raw sentences of SentEval set ``name``, with the
    core linear probe's protocol (:func:`sslcore.evaluation.linear_probe`): its C grid;
    no split -> stratified 10-fold CV with C from an inner 5-fold search; a split -> C on
    ``val`` (or a held-out 10 % of train), refit on train, test accuracy. The vectoriser is
    fit on the fitting rows only (it is part of the model), as the probe's scaler is."""
    from sslcore_nlp.data.senteval import read_senteval

    return tfidf_probe_texts(*read_senteval(root, name), seed)


def tfidf_probe_texts(
    texts: list[str], labels: list[int], splits: dict[str, Any] | None, seed: int
) -> dict[str, Any]:
    """:func:`tfidf_probe` on given ``texts``, ``labels`` and ``splits`` (row indices per
    split, or ``None`` for cross-validation)."""
    X, y = np.asarray(texts, dtype=object), np.asarray(labels)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if splits is None:
            search = GridSearchCV(
                _tfidf_model(1.0, seed), {"logisticregression__C": list(DEFAULT_CS)}, cv=5, n_jobs=1
            )
            scores = cross_val_score(search, X, y, cv=StratifiedKFold(10, shuffle=True, random_state=seed))
            return {
                "test_accuracy": float(scores.mean()),
                "test_std": float(scores.std()),
                "selected": {},
                "num_test": len(y),
                "seconds": time.perf_counter() - start,
            }
        fit, select, test = selection_split(y, splits, seed)
        best_C, best_acc = DEFAULT_CS[0], -1.0
        for C in DEFAULT_CS:
            acc = _tfidf_model(C, seed).fit(X[fit], y[fit]).score(X[select], y[select])
            if acc > best_acc:
                best_C, best_acc = C, acc
        train_rows = np.asarray(splits["train"])
        model = _tfidf_model(best_C, seed).fit(X[train_rows], y[train_rows])
        return {
            "test_accuracy": float(model.score(X[test], y[test])),
            "test_std": None,
            "selected": {"C": best_C},
            "num_test": len(test),
            "seconds": time.perf_counter() - start,
        }


# -- continued pretraining --------------------------------------------------------------------


def continued_pretraining(source: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Export the MLM run ``source``, pretrain ``mlm`` again from the export (its tokenizer
    and weights), and check the loss starts lower and the vocabulary is the exported one."""
    from sslcore.export import export_run
    from sslcore_nlp.tokenizer import load_tokenizer

    source_dir = Path(source["run_dir"])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    export = cache_dir("benchmarks", "nlp_methods") / f"{source_dir.name}-export-{stamp}"
    export_dir = export_run(source_dir, export, args.data_root)["transformers"]
    run_dir = export.with_name(f"{source_dir.name}-continued-{stamp}")
    result, logs = train(
        "mlm",
        source["seed"],
        args,
        run_dir,
        encoder_options={**ENCODER_OPTIONS, "pretrained": str(export_dir)},
        dataset_options={**DATASET_OPTIONS, "tokenizer": str(export_dir)},
        seconds=args.continue_seconds,
    )
    exported = load_tokenizer(export_dir).get_vocab()
    _, source_bundle, _ = load_run(source_dir, args.data_root)
    task, bundle, _ = load_run(run_dir, args.data_root)
    used = bundle.info["tokenizer"].get_vocab()
    scratch_first = source["logs"]["first_logged"]["loss"]
    continued_first = logs["first_logged"]["loss"]
    return {
        "source_run": str(source_dir),
        "export_dir": str(export_dir),
        "run_dir": str(run_dir),
        "budget_seconds": args.continue_seconds,
        "steps": result.steps,
        "seconds": result.seconds,
        "logs": logs,
        "scratch_first_loss": scratch_first,
        "scratch_last_loss": source["logs"]["last_logged"]["loss"],
        "continued_first_loss": continued_first,
        "continued_last_loss": logs["last_logged"]["loss"],
        "starts_below_scratch": continued_first < scratch_first,
        "tokenizer_kept": used == exported == source_bundle.info["tokenizer"].get_vocab(),
        "vocab_size": len(used),
        "model_vocab_size": int(task.encoder.model.config.vocab_size),
    }


# -- summary ----------------------------------------------------------------------------------


def run_average(entry: dict[str, Any], which: str, probes: tuple[str, ...]) -> float | None:
    """Mean accuracy (%) of one run over ``probes``; None if one is missing."""
    if not all(p in entry["probes"] for p in probes):
        return None
    return 100 * statistics.mean(entry["probes"][p][which]["test_accuracy"] for p in probes)


def summary(record: dict[str, Any], probes: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per task (mean over its seeds) and one for TF-IDF."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for key, entry in record["runs"].items():
        by_task.setdefault(key.rsplit("/", 1)[0], []).append(entry)
    rows = []
    for task, entries in by_task.items():
        complete = [e for e in entries if run_average(e, "pretrained", probes) is not None]
        avg = [run_average(e, "pretrained", probes) for e in complete]
        rnd = [run_average(e, "random_init", probes) for e in complete]
        tps = [e["logs"]["tokens_per_second"] for e in entries if e["logs"]["tokens_per_second"]]
        tuned = [e["finetune"] for e in entries if "finetune" in e]
        per_set = {
            p: 100
            * statistics.mean(
                e["probes"][p]["pretrained"]["test_accuracy"] for e in entries if p in e["probes"]
            )
            for p in probes
            if any(p in e["probes"] for e in entries)
        }
        rows.append(
            {
                "task": task,
                "paradigm": entries[0]["paradigm"],
                "seeds": sorted(e["seed"] for e in entries),
                "complete_seeds": len(complete),
                "per_set": per_set,
                "average": statistics.mean(avg) if avg else None,
                "std": statistics.stdev(avg) if len(avg) > 1 else 0.0,
                "random_init": statistics.mean(rnd) if rnd else None,
                "tokens_per_second": statistics.median(tps) if tps else None,
                "first_loss": statistics.mean(e["logs"]["first_logged"]["loss"] for e in entries),
                "final_loss": statistics.mean(e["logs"]["last_logged"]["loss"] for e in entries),
                "steps": statistics.mean(e["steps"] for e in entries),
                "finetuned": _mean_accuracy(tuned, "pretrained"),
                "finetuned_random_init": _mean_accuracy(tuned, "random_init"),
                "finetuned_seeds": len(tuned),
            }
        )
    if record.get("tfidf"):
        seeds = list(record["tfidf"].values())
        per_set = {
            p: 100 * statistics.mean(s[p]["test_accuracy"] for s in seeds if p in s)
            for p in probes
            if any(p in s for s in seeds)
        }
        avg = [
            100 * statistics.mean(s[p]["test_accuracy"] for p in probes)
            for s in seeds
            if all(p in s for p in probes)
        ]
        rows.append(
            {
                "task": "tf-idf + logreg",
                "paradigm": "baseline",
                "seeds": sorted(int(k) for k in record["tfidf"]),
                "complete_seeds": len(avg),
                "per_set": per_set,
                "average": statistics.mean(avg) if avg else None,
                "std": statistics.stdev(avg) if len(avg) > 1 else 0.0,
                "random_init": None,
                "tokens_per_second": None,
                "first_loss": None,
                "final_loss": None,
                "steps": None,
                "finetuned": None,
                "finetuned_random_init": None,
                "finetuned_seeds": 0,
            }
        )
    return rows


def _mean_accuracy(results: list[dict[str, Any]], which: str) -> float | None:
    """Mean test accuracy (%) of ``results[i][which]``; None if there are none."""
    return 100 * statistics.mean(r[which]["test_accuracy"] for r in results) if results else None


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def markdown(rows: list[dict[str, Any]], probes: tuple[str, ...], record: dict[str, Any]) -> str:
    head = " | ".join(PROBE_NAMES[p] for p in probes)
    lines = [
        f"| task | paradigm | seeds | {head} | average | random init | SST-2 fine-tuned (random init) "
        "| tokens/s | loss first -> last |",
        "|---|---|---:|" + "---:|" * len(probes) + "---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r["paradigm"] == "baseline", -(r["average"] or 0.0))):
        average = f"{r['average']:.2f} ± {r['std']:.2f}" if r["average"] is not None else "-"
        loss = f"{r['first_loss']:.3f} -> {r['final_loss']:.3f}" if r["final_loss"] is not None else "-"
        lines.append(
            f"| {r['task']} | {r['paradigm']} | {len(r['seeds'])} | "
            + " | ".join(fmt(r["per_set"].get(p)) for p in probes)
            + f" | {average} | {fmt(r['random_init'])} | "
            + (f"{fmt(r['finetuned'])} ({fmt(r['finetuned_random_init'])}) | " if r["finetuned"] else "- | ")
            + f"{fmt(r['tokens_per_second'], '.0f')} | {loss} |"
        )
    c = record.get("continued")
    if c:
        lines.append(
            f"\ncontinued MLM from {c['export_dir']}: first logged loss {c['continued_first_loss']:.3f} "
            f"(from scratch {c['scratch_first_loss']:.3f}), last {c['continued_last_loss']:.3f} after "
            f"{c['steps']} steps; tokenizer kept: {'yes' if c['tokenizer_kept'] else 'NO'} "
            f"(vocabulary {c['vocab_size']}, model {c['model_vocab_size']})"
        )
    return "\n".join(lines)


def acceptance(
    rows: list[dict[str, Any]], record: dict[str, Any], args: argparse.Namespace, probes: tuple[str, ...]
) -> dict[str, Any]:
    """The issue's criteria on the complete (all probes) runs; missing pieces fail them."""
    by_task = {r["task"]: r for r in rows}
    wanted = len(args.seeds)
    incomplete = [t for t in args.tasks if t not in by_task or by_task[t]["complete_seeds"] < wanted]
    mlm, electra = by_task.get("mlm"), by_task.get("electra")
    electra_beats_mlm = bool(
        mlm
        and electra
        and mlm["average"] is not None
        and electra["average"] is not None
        and electra["average"] > mlm["average"]
    )
    not_above_random = [
        r["task"]
        for r in rows
        if r["task"] in args.tasks and (r["average"] is None or r["average"] <= r["random_init"])
    ]
    c = record.get("continued") or {}
    continued_ok = bool(c.get("starts_below_scratch") and c.get("tokenizer_kept"))
    return {
        "probes": list(probes),
        "electra_average": electra["average"] if electra else None,
        "mlm_average": mlm["average"] if mlm else None,
        "electra_beats_mlm": electra_beats_mlm,
        "not_above_random_init": not_above_random,
        "continued_pretraining_ok": continued_ok,
        "incomplete_tasks": incomplete,
        "tfidf_average": by_task.get("tf-idf + logreg", {}).get("average"),
        "electra_finetuned": electra["finetuned"] if electra else None,
        "mlm_finetuned": mlm["finetuned"] if mlm else None,
        "accepted": electra_beats_mlm
        and not not_above_random
        and continued_ok
        and not incomplete
        and set(probes) == set(PROBES),
    }


def merge(record: dict[str, Any], other: dict[str, Any]) -> None:
    """Copy ``other``'s runs, TF-IDF seeds and recorded commands into ``record`` (``other``
    wins on a clash) and its continued-pretraining check if ``record`` has none."""
    record["runs"].update(other.get("runs", {}))
    for seed, probes in other.get("tfidf", {}).items():
        record["tfidf"].setdefault(seed, {}).update(probes)
    record.setdefault("commands", {}).update(other.get("commands", {}))
    if "continued" in other:
        record.setdefault("continued", other["continued"])


def main() -> int:
    args = parse_args()
    record = read_json(args.output) if args.output.exists() else {}
    record.setdefault("runs", {})
    record.setdefault("tfidf", {})
    for path in args.merge_from:
        merge(record, read_json(path))
    record.update(
        benchmark="nlp_methods",
        dataset="wikitext2 (WikiText-2 validation file) / SentEval MR, CR, MPQA, SST-2 (probes)",
        encoder=ENCODER,
        encoder_options=ENCODER_OPTIONS,
        dataset_options=DATASET_OPTIONS,
        tfidf_options={**TFIDF_OPTIONS, "Cs": list(DEFAULT_CS)},
    )

    def save() -> None:
        record.update(**provenance(torch_threads=args.threads, load_average=os.getloadavg()))
        atomic_write_json(args.output, record)  # each finished piece is kept at once

    runs = grid_runs(record, args)
    if runs:
        found = run_benchmark_grid("nlp_methods", list(runs.values()), args.threads, fresh=args.force)
        for key, run in runs.items():
            entry = record["runs"][key] = stored_run(run, found[run.run_id], args)
            logs, probes = entry["logs"], tuple(entry["probes"])
            averages = {m: run_average(entry, m, probes) for m in entry["probes"][probes[0]]}
            print(
                f"{key}: {entry['steps']} steps, {fmt(logs['tokens_per_second'], '.0f')} tokens/s, loss "
                f"{logs['first_logged']['loss']:.3f} -> {logs['last_logged']['loss']:.3f}; probe average "
                + ", ".join(f"{w} {fmt(a)} %" for w, a in averages.items()),
                flush=True,
            )
        save()
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        for key in (f"{task}/{seed}" for task in args.tasks for seed in args.seeds):
            entry = record["runs"][key]
            if add_probes(entry, args.probes, force=False):  # a stored run probed on fewer sets
                save()
                print(f"{key}: probes {sorted(entry['probes'])} stored", flush=True)
            if args.finetune and add_finetune(entry, args.force):
                save()
                tuned = entry["finetune"]
                print(
                    f"{key} SST-2 fine-tuned {100 * tuned['pretrained']['test_accuracy']:.2f} "
                    f"(random init {100 * tuned['random_init']['test_accuracy']:.2f})",
                    flush=True,
                )
        if not args.no_tfidf:
            for seed in args.seeds:
                stored = record["tfidf"].setdefault(str(seed), {})
                for name in args.probes:
                    if name not in stored or args.force:
                        stored[name] = tfidf_probe(name, seed, args.data_root)
                        save()
                        print(
                            f"tf-idf/{seed} {name}: {100 * stored[name]['test_accuracy']:.2f} % "
                            f"in {stored[name]['seconds']:.0f} s",
                            flush=True,
                        )
        source = record["runs"].get(f"mlm/{args.seeds[0]}")
        if not args.no_continue and source is not None and (args.force or "continued" not in record):
            record["continued"] = continued_pretraining(source, args)
            save()
    probes = tuple(p for p in PROBES if p in args.probes)
    rows = summary(record, probes)
    record["summary"] = rows
    record.update(acceptance(rows, record, args, probes))
    record.update(**provenance(torch_threads=args.threads, load_average=os.getloadavg()))
    verdict = (
        f"\nELECTRA average {fmt(record['electra_average'])} vs MLM {fmt(record['mlm_average'])}: "
        f"{'higher' if record['electra_beats_mlm'] else 'NOT higher'}; "
        f"not above random init: {record['not_above_random_init'] or 'none'}; "
        f"continued pretraining: {'ok' if record['continued_pretraining_ok'] else 'NOT ok'}; "
        f"TF-IDF average {fmt(record['tfidf_average'])}; SST-2 fine-tuned (reported, not a criterion): "
        f"ELECTRA {fmt(record['electra_finetuned'])} vs MLM {fmt(record['mlm_finetuned'])}; "
        f"incomplete: {record['incomplete_tasks'] or 'none'}; accepted: {'yes' if record['accepted'] else 'NO'}"
    )
    return write_result(args.output, record, markdown(rows, probes, record) + "\n" + verdict)


if __name__ == "__main__":
    raise SystemExit(main())
