"""docs/first_ten_minutes.md runs as written: every `sslcore` command of its bash blocks
is executed in order (in-process, through the CLI's ``main``), with tiny budgets and data
subsets added so that the test takes about a minute, and the claims around them are
checked (a recipe on the card, a probe accuracy printed, the report's columns)."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

import pytest

import sslcore.plugins.manager as manager
from sslcore.cli import main
from sslcore.compare import run_grid, suite_grid, write_report
from sslcore.plugins.manager import Registry
from tests.fake_dist import TABULAR

DOC = Path(__file__).resolve().parents[1] / "docs" / "first_ten_minutes.md"
#: lines of the page's bash blocks that are not sslcore commands, and what stands for each here
NOT_RUN = {
    "make install": "the test environment is installed already",
    ". .venv/bin/activate": "the test runs in that environment",
    "pip install -e examples/sslcore-tabular": "registered in-process below (no pip in tests)",
}
#: what makes a command tiny: a two-step budget and data subsets (each adds to what the page shows)
TINY_PRETRAIN = ["--steps", "2", "--no-progress", "--threads", "1"]
SUBSETS = {"fashion-mnist": ["--dataset-opt", "train_subset=512", "--dataset-opt", "test_subset=256"]}
REPORT_COLUMNS = (
    "probe",
    "random init",
    "raw features",
    "train s",
    "GFLOPs",
    "align",
    "uniform",
    "eff. rank",
)


def doc_lines() -> list[str]:
    """The commands of the page's ``bash`` blocks, comments removed, in order."""
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    lines = []
    for block in blocks:
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                lines.append(" ".join(words))
    return lines


def tiny(words: list[str]) -> list[str]:
    if words[0] != "pretrain":
        return words
    dataset = words[words.index("--dataset") + 1]
    return [*words, *TINY_PRETRAIN, *SUBSETS.get(dataset, [])]


def run_quick_suite(output: Path) -> Path:
    """``sslcore compare --suite quick``, each run's budget cut to two steps."""
    grid = suite_grid("quick")
    grid = dataclasses.replace(
        grid, runs=tuple(dataclasses.replace(r, budget={"steps": 2}) for r in grid.runs)
    )
    records = run_grid(grid, output, log=lambda message: None)
    assert {r["status"] for r in records} == {"ok"}, [r.get("error") for r in records]
    return write_report(grid, records, output)["markdown"]


def test_the_first_ten_minutes_page_runs_as_written(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    lines = doc_lines()
    skipped = [line for line in lines if not line.startswith("sslcore ")]
    assert skipped == list(NOT_RUN), "a new non-sslcore line on the page: say here how the test stands for it"
    ran = []
    for line in lines:
        if line.startswith("pip install -e examples/sslcore-tabular"):
            monkeypatch.syspath_prepend(str(TABULAR))
            import sslcore_tabular.plugin

            registry = Registry().load_entry_points()
            registry.register(
                sslcore_tabular.plugin, "tabular", distribution="sslcore-tabular", version="0.1.0"
            )
            monkeypatch.setattr(manager, "_DEFAULT", registry)
            continue
        if not line.startswith("sslcore "):
            continue
        words = [
            w.replace("DATA", str(shared_data)).replace("runs/", f"{tmp_path}/runs/")
            for w in shlex.split(line)[1:]
        ]
        if words[:2] == ["compare", "--suite"]:
            report = run_quick_suite(Path(words[words.index("--output") + 1]))
            header = report.read_text(encoding="utf-8")
            assert all(column in header for column in REPORT_COLUMNS), header[:500]
            ran.append(line)
            continue
        code = main(tiny(words))
        out = capsys.readouterr().out
        assert code == 0, f"{line!r} exited with {code}"
        if words[0] == "tasks" and len(words) == 2 and not words[1].startswith("-"):
            assert "recipe" in out and "taxonomy" in out, out
        if words[0] == "evaluate":
            assert "test accuracy" in out, out
        if words[0] == "pretrain":
            assert "trained 2 steps" in out, out
        ran.append(line)
    domains = {"cora", "fashion-mnist", "wikitext2", "wine"}
    assert {d for d in domains if any(f"--dataset {d}" in line for line in ran)} == domains
