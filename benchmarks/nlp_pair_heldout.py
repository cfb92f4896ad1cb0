"""Held-out accuracy of the sentence-pair pretext tasks (SOP, NSP) of ``nlp_methods``.

The SOP / NSP runs of ``benchmarks/nlp_methods.py`` reach 91-100 % training accuracy
after tens of epochs over the one WikiText-2 file. To tell a learnt order / continuity
signal from memorised blocks, each stored run (its latest checkpoint, eval mode, no
dropout) and the same task at random initialisation are scored on pairs cut the task's
own way (``collate``) from

- ``train``: the WikiText-2 blocks it was pretrained on;
- ``held-out``: text it never saw, the docstring paragraphs of the ``pydocs`` dataset
  (Python's own standard-library docs, English prose of another domain), tokenised with
  the run's tokenizer and packed into blocks of the same length.

Pairs are drawn at random (the collate's cut points and swaps), so each corpus is passed
``--passes`` times with ``torch.manual_seed(seed + pass)``; accuracy is over all pairs.
A held-out accuracy near 50 % with a high training accuracy is memorisation (or a signal
that does not cross domains); clearly above 50 %, a signal that generalises.

    .venv/bin/python benchmarks/nlp_pair_heldout.py [--results benchmarks/results/nlp_methods.json]
        [--tasks sop nsp] [--passes 3] [--threads 1]

Writes ``benchmarks/results/nlp_pair_heldout.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import random
import statistics
from pathlib import Path
from typing import Any

import torch
from _common import provenance, write_result

from sslcore.io import read_json
from sslcore.runs import load_run
from sslcore_nlp.data.pydocs import docstring_corpus
from sslcore_nlp.data.tokenized import pack_blocks

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "nlp_pair_heldout.json"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--results",
        type=Path,
        nargs="+",
        default=[HERE / "results" / "nlp_methods.json"],
        help="nlp_methods results files whose runs to score",
    )
    p.add_argument("--tasks", nargs="+", default=["sop", "nsp"], choices=["sop", "nsp"])
    p.add_argument("--passes", type=int, default=3, help="passes over each corpus (pairs are cut at random)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", type=Path, default=RESULTS)
    return p.parse_args()


@torch.no_grad()
def pair_accuracy(task: Any, blocks: list[Any], batch_size: int, passes: int, seed: int) -> dict[str, float]:
    """Accuracy of ``task`` on pairs its ``collate`` cuts from ``blocks`` (shuffled
    batches of ``batch_size`` blocks), over ``passes`` passes."""
    task.eval()
    correct = total = 0
    for pass_ in range(passes):
        torch.manual_seed(seed + pass_)
        order = list(range(len(blocks)))
        random.Random(seed + pass_).shuffle(order)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            batch = task.collate([blocks[i] for i in order[start : start + batch_size]])
            out = task(batch)
            pairs = int(out.metrics["pairs"])
            correct += round(out.metrics[task.metric] * pairs)
            total += pairs
    return {"accuracy": correct / total, "pairs": total}


def score_run(run_dir: Path, heldout_texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Score the run's task and its random init on the run's own blocks and on
    ``heldout_texts`` packed with the run's tokenizer, in the run's batch size."""
    task, bundle, run = load_run(run_dir)
    info = bundle.info
    corpora = {
        "train": list(bundle.pretrain),
        "held_out": pack_blocks(info["tokenizer"], heldout_texts, int(info["max_length"])),
    }
    tasks = {"pretrained": task, "random_init": load_run(run_dir, random_init=True)[0]}
    batch_size = int(run["train"]["batch_size"])
    out: dict[str, Any] = {"blocks": {name: len(blocks) for name, blocks in corpora.items()}}
    for which, model in tasks.items():
        out[which] = {
            name: pair_accuracy(model, blocks, batch_size, args.passes, args.seed)
            for name, blocks in corpora.items()
        }
    return out


def markdown(record: dict[str, Any]) -> str:
    lines = [
        "| run | train pairs acc. | held-out pairs acc. | random init: train / held-out |",
        "|---|---:|---:|---:|",
    ]
    for key, r in record["runs"].items():
        p, q = r["pretrained"], r["random_init"]
        lines.append(
            f"| {key} | {100 * p['train']['accuracy']:.1f} | {100 * p['held_out']['accuracy']:.1f} | "
            f"{100 * q['train']['accuracy']:.1f} / {100 * q['held_out']['accuracy']:.1f} |"
        )
    for task, s in record["summary"].items():
        lines.append(
            f"\n{task}: mean over {s['runs']} runs, train {s['train']:.1f} %, held-out {s['held_out']:.1f} %"
        )
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    runs = {}
    for path in args.results:
        runs.update(read_json(path)["runs"])
    record: dict[str, Any] = {
        "benchmark": "nlp_pair_heldout",
        "passes": args.passes,
        "seed": args.seed,
        "runs": {},
    }
    heldout_texts, _ = docstring_corpus()
    for key, entry in sorted(runs.items()):
        if key.rsplit("/", 1)[0] in args.tasks:
            scores = score_run(Path(entry["run_dir"]), heldout_texts, args)
            record["runs"][key] = {"run_dir": entry["run_dir"], **scores}
            print(f"{key}: {record['runs'][key]['pretrained']}", flush=True)
    record["summary"] = {
        task: {
            "runs": len(scores),
            "train": 100 * statistics.mean(s["pretrained"]["train"]["accuracy"] for s in scores),
            "held_out": 100 * statistics.mean(s["pretrained"]["held_out"]["accuracy"] for s in scores),
        }
        for task in args.tasks
        if (scores := [r for k, r in record["runs"].items() if k.rsplit("/", 1)[0] == task])
    }
    record.update(**provenance(torch_threads=args.threads))
    record["accepted"] = bool(record["runs"])  # a diagnostic: "accepted" = some run was scored
    return write_result(args.output, record, markdown(record))


if __name__ == "__main__":
    raise SystemExit(main())
