"""Probing time of a Fashion-MNIST run of the standard suite, against its training time.

The comparison runner (``sslcore.compare.runner``) probes each run three times where it
trained: the pretrained encoder, the same encoder at random initialisation (both: embed
train + test through ``task.embed``, linear probe, representation geometry of the test
rows) and the raw pixels (embed + linear probe). The encoder is the suite's ``small_cnn``;
a random-init one costs what a trained one does, so it stands for both. Its training time
is the suite file's budget for the run (``seconds``)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np

from sslcore.compare.baselines import raw_features
from sslcore.compare.geometry import geometry
from sslcore.evaluation import extract_embeddings, linear_probe, probe_embeddings

from .families import fashion_mnist
from .timing import median_of, timed
from .training import Context, Recipe


def suite_budgets(dataset: str = "fashion-mnist") -> list[float]:
    """Training seconds of the standard suite's runs on ``dataset`` (from its TOML file)."""
    text = resources.files("sslcore.compare").joinpath("suites/standard.toml").read_text()
    runs = tomllib.loads(text)["run"]
    return [
        float(r["budget"]["seconds"]) for r in runs if r["dataset"] == dataset and "seconds" in r["budget"]
    ]


def embed_and_probe(ctx: Context, model: Any, evalset: Any, solver: str = "auto") -> dict[str, Any]:
    """Seconds to embed every evaluation row and to run the linear probe on them (``solver``
    ``auto``: what the runner does on ``ctx.device``; ``sklearn``: scikit-learn on the CPU)."""
    (X, y), embed_s = timed(lambda: extract_embeddings(model, evalset, ctx.device), ctx.device)
    if solver == "auto":
        probe = lambda: probe_embeddings(linear_probe, X, y, evalset.splits, 0, ctx.device)  # noqa: E731
    else:
        probe = lambda: linear_probe(X, y, evalset.splits, seed=0, solver=solver)  # noqa: E731
    result, probe_s = timed(probe, ctx.device)
    test = evalset.splits["test"]
    _, geometry_s = timed(lambda: geometry(X[test], y[test], seed=0), ctx.device)
    return {
        "embed_s": embed_s,
        "probe_s": probe_s,
        "geometry_s": geometry_s,
        "test_accuracy": 100 * result.test_accuracy,
        "C": result.selected.get("C"),
        "dim": int(X.shape[1]),
    }


def repeated(measure: Callable[[], dict[str, Any]], repeats: int, ctx: Context) -> dict[str, Any]:
    """Medians of ``repeats`` runs of ``measure`` (fewer if the budget runs out; at least one)."""
    runs = [measure()]
    while len(runs) < repeats and ctx.left() > 2 * sum(v for k, v in runs[0].items() if k.endswith("_s")):
        runs.append(measure())
    keys = [k for k in runs[0] if k.endswith("_s")]
    out = {k: median_of([r[k] for r in runs]) for k in keys}
    return out | {k: v for k, v in runs[-1].items() if k not in keys}


def per_run_seconds(encoder: dict[str, Any], raw: dict[str, Any]) -> float:
    """What one suite run spends probing: pretrained + random init (embed, probe, geometry)
    and raw pixels (embed, probe; no geometry)."""
    one = sum(encoder[k]["median"] for k in ("embed_s", "probe_s", "geometry_s"))
    return 2 * one + raw["embed_s"]["median"] + raw["probe_s"]["median"]


def probe(ctx: Context) -> dict[str, Any]:
    """Embed + probe times on ``ctx.device`` (medians of ``ctx.repeats``), the scikit-learn
    solver on the CPU for comparison (always on a CPU run; with ``ctx.probe_sklearn`` on a
    GPU), and the verdict against the suite's training budget."""
    bundle = fashion_mnist(ctx)
    evalset = bundle.evaluation
    encoder = Recipe("simclr", "small_cnn", 256).build(bundle).to(ctx.device)
    raw_model = raw_features(bundle)
    out: dict[str, Any] = {
        "dataset": "vision:fashion-mnist",
        "rows": len(evalset.dataset),  # type: ignore[union-attr, arg-type]
        "encoder": "small_cnn (default width, random init)",
        "device": str(ctx.device),
        "solver_on_device": "torch" if ctx.cuda else "sklearn",
    }
    out["encoder_probe"] = repeated(lambda: embed_and_probe(ctx, encoder, evalset), ctx.repeats, ctx)
    out["raw_probe"] = repeated(lambda: embed_and_probe(ctx, raw_model, evalset), ctx.repeats, ctx)
    if not ctx.cuda:
        torch_cpu = lambda: embed_and_probe(ctx, encoder, evalset, solver="torch")  # noqa: E731
        out["encoder_probe_torch_cpu"] = repeated(torch_cpu, ctx.repeats, ctx)
    elif ctx.probe_sklearn:
        sklearn = lambda: embed_and_probe(ctx, encoder, evalset, solver="sklearn")  # noqa: E731
        out["encoder_probe_sklearn_cpu"] = repeated(sklearn, 1, ctx)
    budgets = suite_budgets()
    out["per_run_probe_s"] = per_run_seconds(out["encoder_probe"], out["raw_probe"])
    out["suite_train_s_per_run"] = budgets
    out["probe_over_train"] = out["per_run_probe_s"] / float(np.min(budgets))
    return out
