"""The ``--smoke`` run's check of its own outputs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .acceptance import acceptance
from .fmt import summary
from .report import ACCEPTANCE_TITLE, MEMORY_TITLE, PARITY_TITLE, TIMING_TITLE

if TYPE_CHECKING:
    from .bench import Bench


def smoke_check(bench: Bench) -> None:
    """The smoke run's outputs hold every section, every planned row, no failure."""
    doc = json.loads(bench.stem.with_suffix(".json").read_text())
    text = bench.stem.with_suffix(".md").read_text()
    problems = []
    missing_meta = {"device", "torch", "triton", "matmul_flops", "command", "budget_s", "complete"} - set(
        doc["meta"]
    )
    problems += [f"meta lacks {sorted(missing_meta)}"] if missing_meta else []
    problems += [f"no row for {k}" for k in (i.key for i in bench.items) if k not in doc["results"]]
    problems += [
        f"section {t!r} missing"
        for t in (TIMING_TITLE, MEMORY_TITLE, PARITY_TITLE, ACCEPTANCE_TITLE)
        if t not in text
    ]
    problems += [f"acceptance lacks {v.criterion!r}" for v in acceptance(bench) if v.criterion not in text]
    for key, r in doc["results"].items():
        if r["status"] in ("error", "oom", "skipped"):
            problems.append(f"{key}: {summary(r)}")
        elif r["status"] == "unsupported" and r.get("impl", r.get("backend")) != "flex":
            problems.append(f"{key}: unsupported")
        elif r["kind"] == "parity" and r["status"] == "ok" and not (r["within_bound"] and r["bit_identical"]):
            problems.append(f"{key}: parity {summary(r)}")
    if not any(r["status"] == "does not fit" for r in doc["results"].values()):
        problems.append("no materialised row was found not to fit (the memory estimate went unexercised)")
    if problems:
        raise SystemExit("smoke check failed:\n  " + "\n  ".join(problems))
    print(f"smoke check passed: {len(doc['results'])} rows, every section present ({bench.stem}.json/.md)")
