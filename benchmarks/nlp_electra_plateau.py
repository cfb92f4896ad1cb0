"""Does ELECTRA's discriminator learn anything in the 15-minute regime? (a study for issue 5)

In ``benchmarks/nlp_methods.py`` ELECTRA's discriminator ends its 15 minutes at the base
rate: its loss equals the entropy of the replaced fraction ``p``, ``H(p) = -p ln p -
(1 - p) ln(1 - p)``, and it flags almost no replaced token. This script pretrains
ELECTRA with ``nlp_methods``' recipe (same encoder, tokenizer, data, seed) and one change
per variant, for a fixed number of steps (``--steps``; half the 15-minute step count by
default, so results do not depend on machine load), and reports for each quarter of the
run the discriminator's gain over the base rate, ``H(p) - L_D`` in nats per token (0: it
knows nothing a constant would not), its recall of replaced tokens and the generator's
MLM loss. Pretext only: no probes.

Variants: the recipe; the ELECTRA paper's learning rate for ELECTRA-Small (5e-4); no
dropout (the cramming recipe's choice); a full-width generator (the strongest proposals);
and, as a positive control, temperature 1000: near-uniform replacements, which the token
identity alone gives away (a uniform sample is usually a rare word), so a working
discriminator must leave the base rate at once.

    .venv/bin/python benchmarks/nlp_electra_plateau.py [--variants recipe lr5e-4 ...] [--steps 1200]
        [--seed 0] [--jobs 2]

Writes ``benchmarks/results/nlp_electra_plateau.json`` (a rerun skips the variants stored
there; ``--force`` reruns) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch
from _common import new_run_dir, provenance
from nlp_methods import DATA_ROOT, ENCODER_OPTIONS, train
from threadpoolctl import threadpool_limits

from sslcore.io import atomic_write_json, read_json

RESULTS = Path(__file__).resolve().parent / "results" / "nlp_electra_plateau.json"
#: variant -> ``train`` overrides of the ``nlp_methods`` ELECTRA recipe
VARIANTS: dict[str, dict[str, Any]] = {
    "recipe": {},
    "lr5e-4": {"lr": 5e-4},
    "no-dropout": {"encoder_options": {**ENCODER_OPTIONS, "dropout": 0.0}},
    "full-generator": {"task_options": {"generator_size": 1.0}},
    "uniform-control": {"task_options": {"temperature": 1000.0}},
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument(
        "--steps", type=int, default=1200, help="steps per run (the 15-minute runs made about 2400)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="runs at once, one process and thread each")
    p.add_argument("--data-root", type=Path, default=DATA_ROOT)
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--force", action="store_true")
    args = p.parse_args()
    if args.steps < 40 or args.jobs < 1:
        p.error("--steps must be at least 40 (four quarters of logged records) and --jobs at least 1")
    return args


def base_rate_entropy(p: float) -> float:
    """``H(p)`` in nats: the loss of the best constant prediction of a ``p``-fraction label."""
    return 0.0 if p <= 0.0 or p >= 1.0 else -(p * math.log(p) + (1 - p) * math.log(1 - p))


def quarters(records: list[dict[str, Any]], steps: int, parts: int = 4) -> list[dict[str, float]]:
    """Means over the logged ELECTRA records (``metrics.jsonl``) of each of ``parts``
    equal parts of ``steps`` (quarters by default)."""
    out = []
    for q in range(parts):
        part = [r for r in records if q * steps / parts < r["step"] <= (q + 1) * steps / parts]
        gain = [base_rate_entropy(r["replaced_fraction"]) - r["disc_loss"] for r in part]
        out.append(
            {
                "up_to_step": round((q + 1) * steps / parts),
                "disc_gain_nats": statistics.mean(gain),
                "disc_loss": statistics.mean(r["disc_loss"] for r in part),
                "disc_recall": statistics.mean(r.get("disc_recall", 0.0) for r in part),
                "generator_mlm_loss": statistics.mean(r["mlm_loss"] for r in part),
            }
        )
    return out


def variant_run(name: str, steps: int, seed: int, data_root: Path) -> dict[str, Any]:
    """Pretrain ELECTRA with variant ``name`` for ``steps`` steps; its per-quarter record."""
    torch.set_num_threads(1)
    with threadpool_limits(1):
        overrides = VARIANTS[name]
        args = argparse.Namespace(
            task_options=overrides.get("task_options", {}), seconds=None, steps=steps, data_root=data_root
        )
        run_dir = new_run_dir("nlp_electra_plateau", f"{name}-s{seed}")
        result, _ = train(
            "electra", seed, args, run_dir, **{k: v for k, v in overrides.items() if k != "task_options"}
        )
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    return {
        "overrides": overrides,
        "seed": seed,
        "steps": result.steps,
        "seconds": result.seconds,
        "quarters": quarters(records, result.steps),
        "run_dir": str(run_dir),
    }


def table(record: dict[str, Any]) -> str:
    lines = [
        "| variant | steps | disc. gain over base rate (nats/token), per quarter | recall, per quarter "
        "| generator MLM loss, last quarter |",
        "|---|---:|---|---|---:|",
    ]
    for name, entry in record["runs"].items():
        qs = entry["quarters"]
        gain = " / ".join(f"{q['disc_gain_nats']:+.3f}" for q in qs)
        recall = " / ".join(f"{q['disc_recall']:.2f}" for q in qs)
        lines.append(
            f"| {name} | {entry['steps']} | {gain} | {recall} | {qs[-1]['generator_mlm_loss']:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    record = read_json(args.output) if args.output.exists() else {"runs": {}}
    todo = [v for v in args.variants if v not in record["runs"] or args.force]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(variant_run, v, args.steps, args.seed, args.data_root): v for v in todo}
        for future in as_completed(futures):
            record["runs"][futures[future]] = future.result()
            record.update(benchmark="nlp_electra_plateau", **provenance(torch_threads=1, jobs=args.jobs))
            atomic_write_json(args.output, record)  # each finished run is kept at once
            print(f"{futures[future]}: done", flush=True)
    record["runs"] = {v: record["runs"][v] for v in VARIANTS if v in record["runs"]}
    print(table(record))
    print(f"\nresults: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
