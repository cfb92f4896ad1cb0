"""Cross-domain comparison: run a grid of (task, encoder, dataset, seed, budget) runs
under one protocol and report them side by side. See :mod:`sslcore.compare.grid` for
the grid file format; ``sslcore compare --suite quick`` is the project's main job."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sslcore.compare.grid import Grid, GridError, GridRun, load_grid, parse_grid
from sslcore.compare.report import write_report
from sslcore.compare.runner import read_results, run_grid
from sslcore.errors import UnknownNameError

SUITES = ("quick", "standard")


def suite_grid(name: str) -> Grid:
    """A grid that ships with sslcore: ``quick`` (data that ships with the dependencies,
    minutes on a CPU) or ``standard`` (the real datasets, ``data_root`` needed)."""
    if name not in SUITES:
        raise UnknownNameError("suite", name, SUITES)
    text = resources.files("sslcore.compare").joinpath("suites", f"{name}.toml").read_text(encoding="utf-8")
    return parse_grid(text, f"<suite {name}>")


def compare(grid: Grid | str | Path, output: str | Path, **kwargs) -> dict[str, Path]:
    """Run ``grid`` (a :class:`Grid`, a grid file or a suite name) into ``output`` and
    write its report; returns the report files by kind."""
    if isinstance(grid, str) and grid in SUITES:
        grid = suite_grid(grid)
    elif not isinstance(grid, Grid):
        grid = load_grid(grid)
    records = run_grid(grid, output, **kwargs)
    return write_report(grid, records, output, kwargs.get("registry"))


__all__ = [
    "SUITES",
    "Grid",
    "GridError",
    "GridRun",
    "compare",
    "load_grid",
    "parse_grid",
    "read_results",
    "run_grid",
    "suite_grid",
    "write_report",
]
