"""GraphCL on Cora ego-networks, a validation-only diagnosis: variants of the attribute
masking token and of ``keep_centre``.

The data is the ``ego_networks`` dataset of ``graph_methods.py`` (every Cora node's 2-hop
ego-network, labelled with the centre's class). Only outer fold 0's training part of that
benchmark's ``StratifiedKFold(10, shuffle=True, random_state=0)`` is used, scored by an
inner 5-fold cross-validation (standardised features, logistic regression, best C of
0.01 / 0.1 / 1); its test fold is never used.

Variants (``--variants``, comma separated), each GraphCL's task options on a 3-layer
encoder of 32 hidden / output units, seed 0, Adam (``--lr``), batches of 128 graphs:

- ``noise``: the task's defaults;
- ``zero``: ``mask_token="zero"``;
- ``keep``: ``keep_centre=True``;
- ``zero_keep``: both;
- ``no_mask``: augmentations ``drop_nodes``, ``perturb_edges``, ``subgraph`` only.

For the first variant, the encoder at random initialisation is scored first. Every
``--eval-every`` epochs the embeddings (eval mode, and BatchNorm in train mode) are scored,
with their effective rank. ``--baselines`` adds the raw features of the centre node and
the mean-pooled raw features.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/graph_graphcl_diagnosis.py \\
        [--variants noise,zero,zero_keep] [--epochs 6] [--eval-every 3] [--lr 0.01] \\
        [--baselines] [--data-root DIR] [--output FILE]

Writes ``benchmarks/results/graph_graphcl_diagnosis.json`` and prints one line per epoch.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import provenance
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch_geometric.data import Batch, Data

from sslcore.build import build_dataset, build_task
from sslcore.io import atomic_write_json

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "graph_graphcl_diagnosis.json"
DATA_ROOT = HERE.parent.parent / "shared" / "data"  # the shared data folder beside the repository
OPTS: dict[str, dict[str, Any]] = {
    "noise": {},
    "zero": {"mask_token": "zero"},
    "keep": {"keep_centre": True},
    "zero_keep": {"mask_token": "zero", "keep_centre": True},
    "no_mask": {"augmentations": ["drop_nodes", "perturb_edges", "subgraph"]},
}
ENCODER_OPTIONS = {"num_layers": 3, "hidden_dim": 32, "output_dim": 32}
BATCH_SIZE = 128


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default="noise,zero,zero_keep", help=f"comma separated, from {list(OPTS)}")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--eval-every", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--baselines", action="store_true", help="also score raw centre / mean-pooled features")
    p.add_argument("--data-root", type=Path, default=DATA_ROOT, help="folder holding planetoid/Cora/raw/")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args()
    unknown = [v for v in args.variants.split(",") if v not in OPTS]
    if unknown:
        p.error(f"unknown variants {unknown}; known: {', '.join(OPTS)}")
    return args


def val_acc(X: np.ndarray, y: np.ndarray, tr: np.ndarray, Cs: tuple[float, ...] = (0.01, 0.1, 1.0)) -> float:
    """Best inner 5-fold CV accuracy (%) over ``Cs`` on the training part ``tr``."""
    return 100 * max(
        cross_val_score(
            make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=500)),
            X[tr],
            y[tr],
            cv=StratifiedKFold(5),
        ).mean()
        for C in Cs
    )


def erank(X: np.ndarray) -> float:
    """Effective rank: exp of the entropy of the normalised singular values of centred X."""
    s = np.linalg.svd(X - X.mean(0), compute_uv=False)
    q = s / s.sum()
    return float(np.exp(-(q * np.log(q + 1e-12)).sum()))


def embed(task: torch.nn.Module, graphs: list[Data], train_mode: bool = False) -> np.ndarray:
    task.train(train_mode)
    with torch.no_grad():
        X = torch.cat(
            [task.embed(Batch.from_data_list(graphs[i : i + 512])) for i in range(0, len(graphs), 512)]
        )
    task.train()
    return X.numpy()


def main() -> int:
    args = parse_args()
    torch.set_num_threads(1)
    bundle = build_dataset("ego_networks", args.data_root)
    graphs = list(bundle.pretrain)
    y = np.array([int(g.y) for g in graphs])
    tr, _ = next(StratifiedKFold(10, shuffle=True, random_state=0).split(y, y))
    record: dict[str, Any] = {"benchmark": "graph_graphcl_diagnosis", "args": vars(args)}

    mean_nodes = float(np.mean([g.num_nodes for g in graphs]))
    row_norm = float(torch.cat([g.x[:, :-1] for g in graphs[:200]]).norm(dim=1).mean())
    record["data"] = {"graphs": len(graphs), "mean_nodes": mean_nodes, "row_l2_norm": row_norm}
    print(f"{len(graphs)} graphs, mean nodes {mean_nodes:.1f}, row L2 norm {row_norm:.3f}", flush=True)
    if args.baselines:
        centre = val_acc(np.stack([g.x[0, :-1].numpy() for g in graphs]), y, tr, (0.1, 1.0))
        print("centre raw (log-reg)", round(centre, 2), flush=True)
        pooled = val_acc(np.stack([g.x[:, :-1].mean(0).numpy() for g in graphs]), y, tr, (0.1, 1.0))
        print("mean-pooled raw", round(pooled, 2), flush=True)
        record["baselines"] = {"centre_raw": centre, "mean_pooled_raw": pooled}

    variants = args.variants.split(",")
    record["variants"] = {}
    for variant in variants:
        torch.manual_seed(0)
        task = build_task("graphcl", bundle, task_options=OPTS[variant], encoder_options=ENCODER_OPTIONS)
        if variant == variants[0]:
            X = embed(task, graphs)
            init = {"val": val_acc(X, y, tr), "erank": erank(X), "dim": int(X.shape[1])}
            init["val_bn_train_mode"] = val_acc(embed(task, graphs, True), y, tr)
            record["random_init"] = init
            print(
                f"random init: val {init['val']:.2f} erank {init['erank']:.1f}/{init['dim']}; "
                f"BN train mode val {init['val_bn_train_mode']:.2f}",
                flush=True,
            )
        opt = torch.optim.Adam(task.parameters(), lr=args.lr)
        epochs: list[dict[str, Any]] = []
        for ep in range(1, args.epochs + 1):
            t0 = time.process_time()
            perm = torch.randperm(len(graphs))
            losses = []
            for i in range(0, len(graphs), BATCH_SIZE):
                loss = task(task.collate([graphs[j] for j in perm[i : i + BATCH_SIZE].tolist()])).loss
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
            row: dict[str, Any] = {
                "epoch": ep,
                "loss": float(np.mean(losses)),
                "cpu_s": time.process_time() - t0,
            }
            msg = f"[{variant}] epoch {ep} loss {row['loss']:.3f} ({row['cpu_s']:.0f} cpu-s)"
            if ep % args.eval_every == 0:
                X = embed(task, graphs)
                row |= {"val": val_acc(X, y, tr), "erank": erank(X)}
                row["val_bn_train_mode"] = val_acc(embed(task, graphs, True), y, tr)
                msg += (
                    f" val {row['val']:.2f} erank {row['erank']:.1f}; "
                    f"BN train mode val {row['val_bn_train_mode']:.2f}"
                )
            print(msg, flush=True)
            epochs.append(row)
        record["variants"][variant] = {"options": OPTS[variant], "epochs": epochs}

    record.update(provenance(torch_threads=1))
    atomic_write_json(args.output, record)
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
