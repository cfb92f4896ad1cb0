"""Issue 22's acceptance table and the Markdown report of a ``gpu_throughput`` record.

A criterion is PASS or FAIL when its figure was measured on the device it names, NOT
MEASURED otherwise (e.g. every GPU criterion in a CPU run)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the H200 figures of the old engine (../shared/gpu-measurements.md, issue 22)
OLD_SMALL_CNN_IMAGES_S = 5198
OLD_MLM_STEP_MS = 34.0
SCRIPT = "python benchmarks/gpu_throughput.py"

Check = Callable[[dict[str, Any]], tuple[str, bool] | None]


@dataclass(frozen=True)
class Criterion:
    key: str
    text: str
    device: str  # the device the figure must come from
    family: str
    check: Check  # record -> (figure, passed), or None where the record lacks the figure


def family(record: dict[str, Any], name: str) -> dict[str, Any] | None:
    out = record["families"].get(name)
    return out if out and out.get("status") == "ok" else None


def rate_at_least(name: str, key: str, target: float, unit: str) -> Check:
    def check(record: dict[str, Any]) -> tuple[str, bool] | None:
        out = family(record, name)
        if out is None:
            return None
        return f"{out[key]:,.0f} {unit} (target {target:,.0f})", out[key] >= target

    return check


def dgi_ratio(device: str) -> Check:
    def check(record: dict[str, Any]) -> tuple[str, bool] | None:
        out = family(record, "dgi")
        if out is None or device not in out:
            return None
        c = out[device]
        ms = c["epoch_ms_median"]
        text = (
            f"sslcore {ms['sslcore']:.2f} ms / PyG {ms['pyg_example']:.2f} ms per epoch = {c['ratio']:.2f}x"
        )
        return text, c["ratio"] <= 1.1

    return check


def probe_below_training(record: dict[str, Any]) -> tuple[str, bool] | None:
    out = family(record, "probe")
    if out is None:
        return None
    train = min(out["suite_train_s_per_run"])
    return f"probing {out['per_run_probe_s']:.1f} s vs training {train:.0f} s per run", (
        out["per_run_probe_s"] < train
    )


def test_suite(record: dict[str, Any]) -> tuple[str, bool] | None:
    """PASS needs a complete run of the whole suite: exit status 0, no failure, no test
    selection; a selection or an interrupted run is a FAIL that says so."""
    tests = record.get("test_suite")
    if not tests:
        return None
    bad = tests["failures"] + tests["errors"]
    figure = f"{tests['tests']} tests: {bad} failed, {tests['skipped']} skipped, {tests['time_s']:.0f} s"
    if tests.get("selection"):
        return figure + f"; only {tests['selection']}, not the whole suite", False
    if tests.get("exit_code") not in (0, 1, None):
        return figure + f"; incomplete (pytest exit status {tests['exit_code']})", False
    return figure, bad == 0 and tests["tests"] > 0 and tests.get("exit_code") in (0, None)


CRITERIA = [
    Criterion(
        "simclr_small_cnn",
        "SimCLR small CNN, Fashion-MNIST, batch 512: >= 10x 5,198 images/s",
        "cuda",
        "simclr_small_cnn",
        rate_at_least("simclr_small_cnn", "images_per_s", 10 * OLD_SMALL_CNN_IMAGES_S, "images/s"),
    ),
    Criterion(
        "simclr_resnet18",
        "ResNet-18 SimCLR, 32x32 images, bf16: >= 15,000 images/s",
        "cuda",
        "simclr_resnet18",
        rate_at_least("simclr_resnet18", "images_per_s", 15_000, "images/s"),
    ),
    Criterion(
        "mlm",
        "tiny-BERT MLM, batch 128: >= 5x the old steps/s (34 ms/step)",
        "cuda",
        "mlm",
        rate_at_least("mlm", "steps_per_s", 5 * 1000 / OLD_MLM_STEP_MS, "steps/s"),
    ),
    Criterion(
        "dgi_gpu", "DGI on Cora: <= 1.1x PyG's epoch time on the GPU", "cuda", "dgi", dgi_ratio("cuda")
    ),
    Criterion("dgi_cpu", "DGI on Cora: <= 1.1x PyG's epoch time on the CPU", "cpu", "dgi", dgi_ratio("cpu")),
    Criterion(
        "probe",
        "standard suite, Fashion-MNIST run on the GPU: probing takes less time than training",
        "cuda",
        "probe",
        probe_below_training,
    ),
    Criterion(
        "tests",
        "the whole test suite passes with CUDA present (pytest -n 8)",
        "cuda",
        "tests",
        test_suite,
    ),
]


def acceptance(record: dict[str, Any], command: str) -> list[dict[str, Any]]:
    """One row per criterion: figure, verdict and the command that measures it."""
    rows = []
    for c in CRITERIA:
        measured_on = {record["device_type"]} | ({"cpu"} if record["settings"].get("cpu_too") else set())
        found = c.check(record) if c.device in measured_on else None
        verdict = "NOT MEASURED" if found is None else ("PASS" if found[1] else "FAIL")
        how = (
            "bash benchmarks/gpu_engine_check.sh"
            if c.key == "tests"
            else f"{SCRIPT} --device {c.device} --families {c.family}"
        )
        rows.append(
            {
                "criterion": c.key,
                "text": c.text,
                "verdict": verdict,
                "measured": None if found is None else found[0],
                "command": how,
                "this_run": command if found is not None else None,
            }
        )
    return rows


def read_junit(path: Path) -> dict[str, Any]:
    """Totals of a pytest JUnit XML file (``tests``, ``failures``, ``errors``, ``skipped``)
    and the names of the failed tests."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    totals = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    failed = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in root.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    return totals | {"time_s": sum(float(s.get("time", 0)) for s in suites), "failed": failed}
