"""Comparison reports: ``report.md`` (a Markdown table), ``report.csv``, ``report.json``
(rows, per-seed records, versions, hardware and the exact grid) and PNG plots, all
written atomically into the output folder. Rows are means over seeds (± standard
deviation where there are several)."""

from __future__ import annotations

import csv
import io
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sslcore.compare.grid import Grid
from sslcore.io import atomic_write, atomic_write_json, atomic_write_text
from sslcore.plugins.manager import Registry
from sslcore.runs import versions

GROUP = ("domain", "task", "paradigm", "dataset", "encoder", "protocol")
MEANS = (
    "pretrained",
    "random_init",
    "raw",
    "gain_over_random",
    "gain_over_raw",
    "train_seconds",
    "train_flops",
)
GEOMETRY = ("alignment", "uniformity", "effective_rank")
PARADIGM_COLOURS = {
    "generative": "tab:blue",
    "contrastive": "tab:orange",
    "generative-contrastive": "tab:green",
}


def hardware() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def summarise(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (domain, task, paradigm, dataset, encoder, protocol, budget) over the
    finished records: means (and ``<key>_std``) over seeds, geometry of the pretrained encoder."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        if r.get("status") == "ok":
            key = (*(r.get(k) for k in GROUP), str(r["budget"]))
            groups.setdefault(key, []).append(r)
    rows = []
    for key, rs in groups.items():
        row: dict[str, Any] = dict(zip((*GROUP, "budget"), key))
        row["seeds"] = len(rs)
        for name in MEANS:
            values = [r[name] for r in rs if r.get(name) is not None]
            row[name] = float(np.mean(values)) if values else None
            row[f"{name}_std"] = float(np.std(values)) if len(values) > 1 else None
        for name in GEOMETRY:
            values = [r["geometry"]["pretrained"][name] for r in rs]
            row[name] = float(np.nanmean(values))
        rows.append(row)
    order = {paradigm: i for i, paradigm in enumerate(PARADIGM_COLOURS)}
    return sorted(rows, key=lambda r: (r["domain"], order.get(r["paradigm"], 3), r["task"], r["budget"]))


def _pct(row: dict[str, Any], key: str) -> str:
    if row.get(key) is None:
        return "n/a"
    std = row.get(f"{key}_std")
    return f"{100 * row[key]:.1f}" + (f" ± {100 * std:.1f}" if std is not None else "") + " %"


def _points(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f}"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        "| domain | paradigm | task | dataset | seeds | probe | random init | raw features | gain vs random "
        "| gain vs raw | train s | GFLOPs | align | uniform | eff. rank |"
    )
    lines = [head, "|" + "---|" * 15]
    for r in rows:
        flops = "n/a" if r["train_flops"] is None else f"{r['train_flops'] / 1e9:.0f}"
        lines.append(
            f"| {r['domain']} | {r['paradigm']} | {r['task']} | {r['dataset']} | {r['seeds']} "
            f"| {_pct(r, 'pretrained')} | {_pct(r, 'random_init')} | {_pct(r, 'raw')} "
            f"| {_points(r['gain_over_random'])} | {_points(r['gain_over_raw'])} | {r['train_seconds']:.0f} "
            f"| {flops} | {r['alignment']:.2f} | {r['uniformity']:.2f} | {r['effective_rank']:.1f} |"
        )
    return "\n".join(lines)


def failures_table(records: Sequence[dict[str, Any]]) -> str:
    failed = [r for r in records if r.get("status") != "ok"]
    if not failed:
        return ""
    lines = ["| task | dataset | seed | error |", "|---|---|---|---|"]
    lines += [f"| {r['task']} | {r['dataset']} | {r['seed']} | {r['error'][:200]} |" for r in failed]
    return "\n".join(lines)


def write_report(
    grid: Grid, records: Sequence[dict[str, Any]], output: str | Path, registry: Registry | None = None
) -> dict[str, Path]:
    """Write the report files into ``output``; returns their paths by kind."""
    output = Path(output)
    rows = summarise(records)
    table = markdown_table(rows)
    failures = failures_table(records)
    meta = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions(registry),
        "hardware": hardware(),
        "grid_path": grid.path,
        "grid": grid.source,
    }
    md = [
        f"# sslcore comparison\n\nGrid: `{grid.path}`; {len(records)} runs, created {meta['created']}.\n",
        table,
    ]
    if failures:
        md += ["\n## Failed runs\n", failures]
    facts = [f"{k}: {v}" for part in ("versions", "hardware") for k, v in meta[part].items()]
    md += ["\n## Versions and hardware\n", "```", *facts, "```"]
    md += ["\n## Grid\n", "```toml", grid.source, "```"]
    paths = {
        "markdown": atomic_write_text(output / "report.md", "\n".join(md) + "\n"),
        "csv": atomic_write_text(output / "report.csv", _csv(rows)),
        "json": atomic_write_json(output / "report.json", {**meta, "rows": rows, "runs": list(records)}),
    }
    if rows:
        paths |= plot_report(rows, output)
    return paths


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def plot_report(rows: Sequence[dict[str, Any]], output: Path) -> dict[str, Path]:
    """``accuracy.png`` (probe by domain and paradigm, with the baselines),
    ``compute.png`` (accuracy against seconds and FLOPs), ``gain.png`` and ``geometry.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['domain']}:{r['task']}" for r in rows]
    colours = [PARADIGM_COLOURS.get(r["paradigm"], "tab:gray") for r in rows]
    x = np.arange(len(rows))
    figures = {}

    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(rows)), 4))
    ax.bar(x, [100 * r["pretrained"] for r in rows], color=colours)
    ax.scatter(
        x, [100 * r["random_init"] for r in rows], marker="_", s=300, c="k", label="random init", zorder=3
    )
    raw = [(i, 100 * r["raw"]) for i, r in enumerate(rows) if r["raw"] is not None]
    if raw:
        ax.scatter(*zip(*raw), marker="x", c="red", label="raw features", zorder=3)
    for paradigm, colour in PARADIGM_COLOURS.items():
        ax.bar([0], [0], color=colour, label=paradigm)
    ax.set(ylabel="probe accuracy (%)", title="Probe accuracy by domain and paradigm")
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figures["accuracy"] = fig

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, name in zip(axes, ("train_seconds", "train_flops"), ("pretraining seconds", "FLOPs")):
        for r, colour, label in zip(rows, colours, labels):
            if r[key]:
                ax.scatter(r[key], 100 * r["pretrained"], c=colour)
                ax.annotate(label, (r[key], 100 * r["pretrained"]), fontsize=7)
        ax.set(xscale="log", xlabel=name, ylabel="probe accuracy (%)")
    fig.suptitle("Accuracy against compute")
    figures["compute"] = fig

    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(rows)), 4))
    ax.bar(x - 0.2, [100 * r["gain_over_random"] for r in rows], 0.4, label="over random init")
    ax.bar(x + 0.2, [100 * (r["gain_over_raw"] or 0) for r in rows], 0.4, label="over raw features")
    ax.axhline(0, c="k", lw=0.8)
    ax.set(ylabel="gain (points)", title="Gain of pretraining")
    ax.set_xticks(x, labels, rotation=45, ha="right")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figures["gain"] = fig

    fig, axes = plt.subplots(1, 3, figsize=(max(10, 1.2 * len(rows)), 4))
    for ax, key in zip(axes, GEOMETRY):
        ax.bar(x, [r[key] for r in rows], color=colours)
        ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
        ax.set_title(key.replace("_", " "))
    fig.suptitle("Representation geometry (pretrained encoders, test embeddings)")
    figures["geometry"] = fig

    paths = {}
    for name, fig in figures.items():
        fig.tight_layout()
        paths[name] = atomic_write(
            output / f"{name}.png", lambda f, fig=fig: fig.savefig(f, format="png", dpi=100)
        )
        plt.close(fig)
    return paths
