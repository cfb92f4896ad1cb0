"""Word-order probe of the ``nlp_methods`` runs: do the encoders carry any context signal?

The sentiment probes of ``benchmarks/nlp_methods.py`` are mostly answered by a bag of
word vectors (``benchmarks/nlp_probe_layers.py``). This script probes the same stored
runs (latest checkpoint) and their random initialisations on a task a bag of words
cannot solve: SentEval's bigram shift (BShift, Conneau et al. 2018, "What you can cram
into a single !#$%& vector"), built here from the SST-2 sentences. In half of the
sentences of 4 or more words, chosen at random (seeded), two adjacent, different words
are swapped (label 1); the others are left as they are (label 0). Each sentence occurs
once, in SST-2's own train / dev / test split. Features: the mean-pooled token
embeddings (``words``: permutation invariant, so at chance by construction, the check
that nothing but order is being probed) and each layer's output (the last one is what
``nlp_methods`` probes); the core linear probe (C on dev, test accuracy). Beside them,
``nlp_methods``' TF-IDF baseline (word uni- and bigrams) on the same sentences: a swap
creates bigrams the unshifted text does not have, so it shows how much order signal a
linear model can find in this data.

    .venv/bin/python benchmarks/nlp_bshift.py [--tasks mlm electra ...] [--seeds 0]
        [--scaling benchmarks/results/nlp_electra_scaling.json]

The runs of ``nlp_electra_scaling`` (4x the steps; MLM there reaches a loss of 2.6) are
probed as well when that results file exists.

Writes ``benchmarks/results/nlp_bshift.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import provenance, write_result
from nlp_methods import DATA_ROOT, RECIPES, tfidf_probe_texts
from nlp_probe_layers import layer_features
from threadpoolctl import threadpool_limits

from sslcore.evaluation.linear import linear_probe
from sslcore.io import read_json
from sslcore.runs import load_run
from sslcore_nlp.data.senteval import read_senteval
from sslcore_nlp.data.tokenized import labelled_texts

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "nlp_bshift.json"
MIN_WORDS = 4


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--results", type=Path, default=HERE / "results" / "nlp_methods.json")
    p.add_argument(
        "--scaling",
        type=Path,
        default=HERE / "results" / "nlp_electra_scaling.json",
        help="also probe every run of this nlp_electra_scaling results file (skipped if absent)",
    )
    p.add_argument("--data-root", type=Path, default=DATA_ROOT)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", type=Path, default=RESULTS)
    return p.parse_args()


def bigram_shift(
    texts: list[str], splits: dict[str, Any], seed: int = 0
) -> tuple[list[str], list[int], dict]:
    """BShift sentences, labels (1: two adjacent different words swapped) and the splits
    re-indexed to the kept sentences (those with at least :data:`MIN_WORDS` words)."""
    rng = random.Random(seed)
    split_of = {int(i): name for name, rows in splits.items() for i in rows}
    out_texts: list[str] = []
    labels: list[int] = []
    out_splits: dict[str, list[int]] = {name: [] for name in splits}
    for i, text in enumerate(texts):
        words = text.split()
        places = [j for j in range(len(words) - 1) if words[j] != words[j + 1]]
        if len(words) < MIN_WORDS or not places:
            continue
        label = rng.random() < 0.5
        if label:
            j = rng.choice(places)
            words[j], words[j + 1] = words[j + 1], words[j]
        out_splits[split_of[i]].append(len(out_texts))
        out_texts.append(" ".join(words))
        labels.append(int(label))
    return out_texts, labels, {name: np.asarray(rows) for name, rows in out_splits.items()}


def probe_run(run_dir: str, bshift: tuple[list[str], list[int], dict], random_init: bool) -> dict[str, float]:
    """Test accuracy (%) of the linear probe on the ``bshift`` set (:func:`bigram_shift`'s
    output), tokenised with the run's tokenizer, for each feature of the run."""
    task, bundle, run = load_run(run_dir, random_init=random_init, dataset_options={"probe": "sst2"})
    info = bundle.info
    evalset = labelled_texts(info["tokenizer"], *bshift, info["max_length"], num_classes=2)
    features, y = layer_features(task, evalset)
    return {
        name: 100 * linear_probe(X, y, evalset.splits, seed=run["train"]["seed"]).test_accuracy
        for name, X in features.items()
    }


def markdown(record: dict[str, Any]) -> str:
    layers = list(next(iter(record["runs"].values()))["pretrained"])
    lines = ["| run | " + " | ".join(layers) + " |", "|---|" + "---:|" * len(layers)]
    for key, entry in record["runs"].items():
        for which in ("pretrained", "random_init"):
            cells = [f"{entry[which][layer]:.1f}" for layer in layers]
            lines.append(f"| {key} {which.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    stored = read_json(args.results)["runs"]
    record: dict[str, Any] = {"benchmark": "nlp_bshift", "results": str(args.results), "runs": {}}
    torch.set_num_threads(args.threads)
    runs = {}
    for task in args.tasks:
        for seed in args.seeds:
            key = f"{task}/{seed}"
            if key not in stored:
                raise SystemExit(f"{key} is not in {args.results}; run benchmarks/nlp_methods.py first")
            runs[key] = stored[key]["run_dir"]
    if args.scaling.exists():  # the longer runs (keys task/x<multiple>/seed)
        runs.update({key: e["run_dir"] for key, e in read_json(args.scaling)["runs"].items()})
    texts, _, splits = read_senteval(args.data_root, "sst2")
    bshift = bigram_shift(texts, splits)  # one set, every run probed on it
    with threadpool_limits(args.threads):
        for key, run_dir in runs.items():
            record["runs"][key] = entry = {
                which: probe_run(run_dir, bshift, which == "random_init")
                for which in ("pretrained", "random_init")
            }
            print(key, {w: {k: round(v, 1) for k, v in entry[w].items()} for w in entry}, flush=True)
    record["tfidf_bigrams"] = tfidf_probe_texts(*bshift, seed=0)
    print(f"TF-IDF word uni+bigrams: {100 * record['tfidf_bigrams']['test_accuracy']:.1f}", flush=True)
    words = [e[w]["words"] for e in record["runs"].values() for w in e]
    record["words_at_chance"] = all(abs(a - 50.0) < 3.0 for a in words)  # order-blind by construction
    record["accepted"] = record["words_at_chance"]
    record.update(**provenance(torch_threads=args.threads))
    return write_result(args.output, record, markdown(record))


if __name__ == "__main__":
    raise SystemExit(main())
