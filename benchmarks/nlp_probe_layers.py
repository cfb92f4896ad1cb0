"""Layer-wise linear probes of the ``nlp_methods`` runs: where the sentiment signal is lost.

In ``benchmarks/nlp_methods.py`` several pretrained encoders probe below the same encoder
at random initialisation. This script probes, for each stored run (latest checkpoint)
and its random initialisation, the mean-pooled (over non-padding tokens) vectors of

- ``words``: the token embeddings alone (a bag of learnt word vectors, no position,
  no LayerNorm, no context);
- ``layer 0``: the embedding block's output (token + position + segment, LayerNorm);
- ``layer k``: the output of transformer layer ``k`` (the last one is what
  ``nlp_methods`` probes; its accuracy there is checked to match),

with the core linear protocol of ``nlp_methods`` (MR, CR, MPQA: 10-fold CV with an
inner C search; SST-2: C on dev, test accuracy).

    .venv/bin/python benchmarks/nlp_probe_layers.py [--tasks mlm electra ...] [--seeds 0]
        [--probes sst2 mr] [--results benchmarks/results/nlp_methods.json]

Writes ``benchmarks/results/nlp_probe_layers.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import provenance, write_result
from nlp_methods import PROBE_NAMES, PROBES, RECIPES
from threadpoolctl import threadpool_limits
from torch.utils.data import DataLoader

from sslcore.evaluation.linear import linear_probe
from sslcore.io import read_json
from sslcore.runs import load_run
from sslcore_nlp.encoders.transformer import MODEL_INPUTS

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "nlp_probe_layers.json"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--probes", nargs="+", default=["sst2", "mr"], choices=list(PROBES))
    p.add_argument("--results", type=Path, default=HERE / "results" / "nlp_methods.json")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", type=Path, default=RESULTS)
    return p.parse_args()


@torch.no_grad()
def layer_features(task: Any, evalset: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``{"words": [N, d], "layer 0": [N, d], ..., "layer L": [N, d]}`` pooled as the
    encoder pools (mean over non-padding tokens here) for every evaluation row, in
    dataset order (batched as ``extract_embeddings`` does), and the ``[N]`` labels."""
    task.eval()
    encoder = task.encoder
    loader = DataLoader(
        evalset.dataset, batch_size=evalset.batch_size, shuffle=False, collate_fn=evalset.collate
    )
    parts: dict[str, list[np.ndarray]] = {}
    labels = []
    for inputs, y in loader:
        labels.append(torch.as_tensor(y).numpy())
        mask = inputs["attention_mask"]
        words = encoder.model.embeddings.word_embeddings(inputs["input_ids"])
        model_inputs = {k: inputs[k] for k in MODEL_INPUTS if k in inputs}
        hidden = encoder.model(**model_inputs, output_hidden_states=True).hidden_states
        states = {"words": words, **{f"layer {i}": h for i, h in enumerate(hidden)}}
        for name, value in states.items():
            parts.setdefault(name, []).append(encoder.pool(value, mask).float().numpy())
    return {name: np.concatenate(values) for name, values in parts.items()}, np.concatenate(labels)


def probe_layers(run_dir: str, probe: str, random_init: bool) -> dict[str, float]:
    """Test accuracy (%) of the linear probe on each of :func:`layer_features`."""
    task, bundle, run = load_run(run_dir, random_init=random_init, dataset_options={"probe": probe})
    features, y = layer_features(task, bundle.evaluation)
    return {
        name: 100 * linear_probe(X, y, bundle.evaluation.splits, seed=run["train"]["seed"]).test_accuracy
        for name, X in features.items()
    }


def markdown(record: dict[str, Any], probes: list[str]) -> str:
    layers = list(next(iter(record["runs"].values()))[probes[0]]["pretrained"])
    head = " | ".join(f"{PROBE_NAMES[p]} {layer}" for p in probes for layer in layers)
    lines = [f"| run | {head} |", "|---|" + "---:|" * (len(probes) * len(layers))]
    for key, entry in record["runs"].items():
        for which in ("pretrained", "random_init"):
            cells = [f"{entry[p][which][layer]:.1f}" for p in probes for layer in layers]
            lines.append(f"| {key} {which.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    stored = read_json(args.results)["runs"]
    record: dict[str, Any] = {"benchmark": "nlp_probe_layers", "results": str(args.results), "runs": {}}
    torch.set_num_threads(args.threads)
    mismatches = []
    with threadpool_limits(args.threads):
        for task in args.tasks:
            for seed in args.seeds:
                key = f"{task}/{seed}"
                if key not in stored:
                    raise SystemExit(f"{key} is not in {args.results}; run benchmarks/nlp_methods.py first")
                entry = record["runs"][key] = {}
                for probe in args.probes:
                    entry[probe] = {
                        which: probe_layers(stored[key]["run_dir"], probe, which == "random_init")
                        for which in ("pretrained", "random_init")
                    }
                    last = list(entry[probe]["pretrained"])[-1]
                    expected = 100 * stored[key]["probes"][probe]["pretrained"]["test_accuracy"]
                    if abs(entry[probe]["pretrained"][last] - expected) > 1e-6:
                        mismatches.append(f"{key} {probe}: {entry[probe]['pretrained'][last]} vs {expected}")
                    print(
                        key,
                        probe,
                        {w: {k: round(v, 2) for k, v in entry[probe][w].items()} for w in entry[probe]},
                    )
    record["last_layer_mismatches"] = mismatches
    record["accepted"] = not mismatches  # the last layer must reproduce nlp_methods' probe
    record.update(**provenance(torch_threads=args.threads))
    return write_result(args.output, record, markdown(record, args.probes))


if __name__ == "__main__":
    raise SystemExit(main())
