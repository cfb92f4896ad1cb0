"""Vision methods benchmark (issue 4): every image pretext task on Fashion-MNIST, small CNN.

The (method, seed) runs are an ``sslcore.compare`` grid (``_common.run_benchmark_grid``):
each pretrains with the task's registered recipe alone (``TaskSpec.recipe``: batch,
learning rate, task options, small_cnn width 64, 900 s of wall clock; ``sslcore tasks
NAME`` prints it; ``--seconds`` replaces the budget), then the core linear probe
(standardised features, logistic regression, C chosen on a held-out 10 % of the training
images, accuracy on the official 10k test images) runs on the frozen encoder, on the same
encoder at random initialisation and on the raw pixels (the ``raw_pixels`` rows). Beside
them, the same encoder trained with labels (cross-entropy, light crop/flip augmentation,
same budget), probed the same way.

The grid resumes (an interrupted run continues from its checkpoint, finished runs are
skipped) and each finished (method, seed) is written at once to the results file
(atomically); a rerun skips what is already there; ``--force`` reruns.

    .venv/bin/python benchmarks/vision_methods.py [--methods simclr byol ...] [--seeds 0 1]
        [--seconds 900] [--threads 1] [--data-root DIR]

Writes ``benchmarks/results/vision_methods.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from _common import provenance, run_benchmark_grid
from threadpoolctl import threadpool_limits
from torch import nn
from torch.utils.data import DataLoader, Subset

from sslcore.build import build_dataset, build_encoder
from sslcore.compare.grid import GridRun
from sslcore.evaluation import extract_embeddings, linear_probe
from sslcore.io import atomic_write_json, atomic_write_text, read_json
from sslcore.plugins.manager import get_registry
from sslcore.recipes import Recipe

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "vision_methods.json"
DATA_ROOT = HERE.parent.parent / "shared" / "data"
#: the methods benchmarked, each with its registered recipe (the papers' CIFAR settings
#: scaled to a CPU budget, see plugins/vision/README.md; deep_infomax: the 7x7 local map --
#: the 2x2 last map gave 80.16 %, seed 0). Colorization and adversarial colorization need
#: colour images (Fashion-MNIST is grey).
RECIPES: tuple[str, ...] = (
    "simclr",
    "moco_v2",
    "byol",
    "simsiam",
    "swav",
    "barlow_twins",
    "pirl",
    "rotation",
    "relative_position",
    "jigsaw",
    "deep_infomax",
    "inpainting",
    "masked_denoising",
    "adversarial_inpainting",
)
#: the supervised baseline's optimiser (AdamW, batch 256, lr 2e-3, cosine over the budget)
SUPERVISED = {"batch_size": 256, "lr": 2e-3, "weight_decay": 1e-4}


def recipe(method: str) -> Recipe:
    """``method``'s registered recipe."""
    found = get_registry().task(method).recipe
    assert found is not None, f"{method} has no recipe"
    return found


def recipe_record(method: str) -> dict[str, Any]:
    """What a result records of the recipe: task options and the training settings."""
    found = recipe(method)
    return {
        "task_options": dict(found.task_options),
        **{k: v for k, v in found.train.items() if k not in found.budget},
    }


#: the methods the acceptance asks to reach 87 % (mean of the seeds)
TARGET_87 = ("simclr", "byol", "moco_v2", "simsiam", "swav", "barlow_twins")
#: the acceptance is a mean over these seeds for every method and baseline
ACCEPTANCE_SEEDS = (0, 1)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=[*RECIPES, "raw_pixels", "supervised"])
    p.add_argument("--seeds", type=int, nargs="+", default=list(ACCEPTANCE_SEEDS))
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="pretraining budget per run (wall clock; default: the recipes', 900 s)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch / BLAS intra-op threads")
    p.add_argument("--num-workers", type=int, default=1, help="DataLoader workers building the views")
    p.add_argument("--data-root", type=Path, default=DATA_ROOT, help="folder holding fashion-mnist/")
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--force", action="store_true", help="rerun (method, seed) pairs already in the results")
    return p.parse_args()


def pretrained_run(method: str, seed: int, args: argparse.Namespace, fresh: bool) -> dict[str, Any]:
    """Pretrain ``method`` for the budget with its recipe alone; probe it, its random init
    and the raw pixels (a one-run grid; ``fresh``: start the grid folder over)."""
    budget = {} if args.seconds is None else {"seconds": args.seconds}  # {}: the recipe's 900 s
    run = GridRun(
        method,
        "fashion-mnist",
        None,
        seed,
        budget,
        train={"num_workers": args.num_workers},
        data_root=str(args.data_root),
    )
    return _result(run_benchmark_grid("vision_methods", [run], args.threads, fresh)[run.run_id])


def _result(record: dict[str, Any]) -> dict[str, Any]:
    """A compare record as this benchmark's results file stores a method's run."""
    return {
        "paradigm": record["paradigm"],
        "family": record["family"],
        "test_accuracy": record["pretrained"],
        "random_init_accuracy": record["random_init"],
        "raw_pixels_accuracy": record["raw"],
        "selected": record["metrics"]["pretrained"]["selected"],
        "steps": record["steps"],
        "epochs": record["epochs"],
        "seconds": record["train_seconds"],
        "images_per_second": record["samples"] / record["train_seconds"],
        "final_loss": record["final_loss"],
        "recipe": recipe_record(record["task"]),
        "run_dir": record["run_dir"],
    }


def raw_pixels(seed: int, runs: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The probe on standardised raw pixels (784 features) of a method run of ``seed``
    (every grid run probes them; the first method of ``--methods`` -- else simclr -- runs if
    none has)."""
    found = [r for key, r in runs.items() if key.endswith(f"/{seed}") and "raw_pixels_accuracy" in r]
    method = next((m for m in args.methods if m in RECIPES), RECIPES[0])
    source = found[0] if found else pretrained_run(method, seed, args, fresh=False)
    return {"paradigm": "baseline", "test_accuracy": source["raw_pixels_accuracy"], "from": source["run_dir"]}


class LabelledViews:
    """``[(uint8 image, label)] -> (augmented float images, labels)`` for supervised training."""

    def __init__(self, image_size: int, mean: list[float], std: list[float]):
        from torchvision.transforms import v2

        self.augment = v2.Compose(
            [
                v2.RandomResizedCrop(image_size, scale=(0.5, 1.0), antialias=True),
                v2.RandomHorizontalFlip(),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(mean, std),
            ]
        )

    def __call__(self, items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.stack([self.augment(x) for x, _ in items]), torch.stack(
            [torch.as_tensor(y) for _, y in items]
        )


class EncoderEmbed(nn.Module):
    """The minimal ``embed`` interface :func:`extract_embeddings` needs, over a bare encoder."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)


def supervised(seed: int, seconds: float, args: argparse.Namespace) -> dict[str, Any]:
    """The same encoder trained with labels (cross-entropy) for the same wall-clock budget,
    then probed frozen like the self-supervised encoders."""
    torch.manual_seed(seed)
    bundle = build_dataset("fashion-mnist", args.data_root)
    info, evaluation = bundle.info, bundle.evaluation
    encoder = build_encoder("small_cnn", info, recipe("simclr").encoder_options)  # every recipe's encoder
    model = nn.Sequential(encoder, nn.Linear(encoder.output_dim, info["num_classes"]))
    lr = SUPERVISED["lr"]
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=SUPERVISED["weight_decay"])
    loader = DataLoader(
        Subset(evaluation.dataset, evaluation.splits["train"].tolist()),
        batch_size=SUPERVISED["batch_size"],
        shuffle=True,
        drop_last=True,
        num_workers=args.num_workers,
        collate_fn=LabelledViews(info["image_size"], info["mean"], info["std"]),
        generator=torch.Generator().manual_seed(seed),
    )
    start, steps, images = time.perf_counter(), 0, 0
    model.train()
    while time.perf_counter() - start < seconds:
        for x, y in loader:
            progress = min(1.0, (time.perf_counter() - start) / seconds)
            for group in optimiser.param_groups:  # cosine decay over the time budget
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * progress))
            loss = nn.functional.cross_entropy(model(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            steps, images = steps + 1, images + len(y)
            if progress >= 1.0:
                break
    elapsed = time.perf_counter() - start
    X, y = extract_embeddings(EncoderEmbed(encoder), evaluation)
    probe = linear_probe(X, y, evaluation.splits, seed=seed)
    return {
        "paradigm": "baseline",
        "test_accuracy": probe.test_accuracy,
        "selected": probe.selected,
        "steps": steps,
        "seconds": elapsed,
        "images_per_second": images / elapsed,
    }


def summary(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method: mean and std over its seeds."""
    by_method: dict[str, list[dict[str, Any]]] = {}
    for key, record in sorted(runs.items(), key=lambda item: int(item[0].rsplit("/", 1)[1])):
        by_method.setdefault(key.rsplit("/", 1)[0], []).append(record)
    rows = []
    for method, records in by_method.items():
        acc = [100 * r["test_accuracy"] for r in records]
        rnd = [100 * r["random_init_accuracy"] for r in records if "random_init_accuracy" in r]
        ips = [r["images_per_second"] for r in records if "images_per_second" in r]
        rows.append(
            {
                "method": method,
                "paradigm": records[0]["paradigm"],
                "seeds": len(records),
                "accuracy": statistics.mean(acc),
                "std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
                "random_init": statistics.mean(rnd) if rnd else None,
                "images_per_second": statistics.median(ips) if ips else None,
                "epochs": statistics.mean(r["epochs"] for r in records) if "epochs" in records[0] else None,
                # accuracy (training steps in the budget) of each seed, seed order
                "per_seed": ", ".join(
                    f"{a:.2f}" + (f" ({r['steps']})" if r.get("steps") else "") for a, r in zip(acc, records)
                ),
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]], seconds: float) -> str:
    lines = [
        f"| method | paradigm | seeds | linear probe (%) | random init (%) | gain | images/s | epochs in {seconds:.0f} s "
        "| per seed: % (steps) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["paradigm"], -r["accuracy"])):
        rnd = r["random_init"]
        lines.append(
            f"| {r['method']} | {r['paradigm']} | {r['seeds']} | {r['accuracy']:.2f} ± {r['std']:.2f} | "
            + (f"{rnd:.2f} | {r['accuracy'] - rnd:+.2f} | " if rnd is not None else "- | - | ")
            + (f"{r['images_per_second']:.0f} | " if r["images_per_second"] else "- | ")
            + (f"{r['epochs']:.1f} | " if r["epochs"] is not None else "- | ")
            + f"{r['per_seed']} |"
        )
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    # the supervised baseline's budget and the table's: the recipes' (the same for every method)
    seconds = args.seconds or float(recipe(RECIPES[0]).budget["seconds"])
    unknown = [m for m in args.methods if m not in RECIPES and m not in ("raw_pixels", "supervised")]
    if unknown:
        raise SystemExit(
            f"no recipe for {unknown}; known: {', '.join([*RECIPES, 'raw_pixels', 'supervised'])}"
        )
    record = read_json(args.output) if args.output.exists() else {"runs": {}}
    fresh = args.force  # --force: the first grid run starts the grid folder over
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        for method in args.methods:
            for seed in args.seeds:
                key = f"{method}/{seed}"
                if key in record["runs"] and not args.force:
                    continue
                if method == "raw_pixels":  # the probe on the pixels of a method's grid run
                    result = raw_pixels(seed, record["runs"], args)
                elif method == "supervised":
                    result = supervised(seed, seconds, args)
                else:
                    result, fresh = pretrained_run(method, seed, args, fresh), False
                record["runs"][key] = result
                record.update(budget_seconds=seconds, **provenance(torch_threads=args.threads))
                atomic_write_json(args.output, record)  # each finished run is kept at once
                print(json.dumps({key: result}, default=str), flush=True)
    rows = summary(record["runs"])
    table = markdown(rows, seconds)
    planned = [f"{m}/{seed}" for m in (*RECIPES, "raw_pixels", "supervised") for seed in ACCEPTANCE_SEEDS]
    missing_runs = [key for key in planned if key not in record["runs"]]
    missing_87 = [m for m in TARGET_87 if not any(r["method"] == m for r in rows)]
    below_87 = [r["method"] for r in rows if r["method"] in TARGET_87 and r["accuracy"] < 87.0]
    not_above_random = [
        r["method"] for r in rows if r["random_init"] is not None and r["accuracy"] <= r["random_init"]
    ]
    verdict = (
        f"\nbelow 87 %: {below_87 or 'none'}; not measured yet: {missing_87 or 'none'}; "
        f"not above random init: {not_above_random or 'none'}; "
        f"runs of the acceptance plan still missing: {len(missing_runs)} of {len(planned)}"
        + (f" ({', '.join(missing_runs)})" if missing_runs else "")
    )
    atomic_write_text(args.output.with_suffix(".md"), table + "\n" + verdict + "\n")
    print(table + "\n" + verdict)
    return 0 if not (missing_runs or below_87 or not_above_random) else 1


if __name__ == "__main__":
    raise SystemExit(main())
