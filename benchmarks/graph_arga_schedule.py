"""ARGA / ARVGA: the recipe's schedule against the reference code's, on Cora's link split.

Two schedules of the adversarial graph auto-encoders (GCN 32 -> 16, dense reconstruction,
raw features, 10 % of the edges held out, Adam at a constant lr 0.001, weight decay 0):

- ``k0-s400``: the recipe, 400 trainer steps, each one discriminator and one generator
  step (the paper's Algorithm 1);
- ``k5-s1200``: the reference code's epoch, 5 reconstruction-only steps then one
  discriminator and one generator step (``reconstruction_steps=5``), 200 reference epochs
  = 1,200 trainer steps.
- ``ref-optimisers-e200``: the reference code's epoch with its three Adam optimisers, 200
  epochs: 5 reconstruction(+KL) updates of the encoder with one Adam, then one discriminator
  update, then one generator update of the adversarial term alone with a second Adam over the
  encoder. The trainer has one optimiser per player, so this schedule runs as a plain loop in
  this script (same task, data, losses and probe: ``reference_optimisers_run``).
- ``k5-s1200-separate``: the same through the trainer, with the task option
  ``separate_reconstruction=true`` (an ``autoencoder`` player with its own optimiser),
  1,200 trainer steps = 200 reference epochs.

Each run is ``sslcore.runs.pretrain`` then ``sslcore.runs.evaluate(protocol="link")``:
validation AUC / AP (for choosing) and test AUC / AP (reported), per seed and averaged.
A rerun skips the (schedule, seed) pairs already in the output.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/graph_arga_schedule.py [--task arga]
        [--schedules k0-s400 k5-s1200] [--seeds 0 1] [--data-root DIR] [--output FILE]

Writes ``benchmarks/results/graph_arga_schedule.json`` and prints the means.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from _common import record_seeded_runs

from sslcore.evaluation import extract_embeddings
from sslcore.evaluation.link import link_prediction
from sslcore.runs import evaluate, load_run, pretrain

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "graph_arga_schedule.json"
DATA_ROOT = HERE.parent.parent / "shared" / "data"
SCHEDULES: dict[str, tuple[int, int]] = {  # (k, trainer steps; reference epochs for ref-optimisers)
    "k0-s400": (0, 400),
    "k5-s1200": (5, 1200),
    "ref-optimisers-e200": (5, 200),
    "k5-s1200-separate": (5, 1200),
}
METRICS = ("val_auc", "val_ap", "test_auc", "test_ap")


def one_run(task: str, schedule: str, seed: int, data_root: Path, folder: Path) -> dict[str, float]:
    k, steps = SCHEDULES[schedule]
    run = folder / f"{task}-{schedule}-s{seed}"
    if schedule.startswith("ref-optimisers"):
        _pretrain(task, run, data_root, k, 1, seed, False)  # a run folder: task, data and options
        return reference_optimisers_run(run, data_root, k, steps)
    _pretrain(task, run, data_root, k, steps, seed, schedule.endswith("-separate"))
    metrics = evaluate(run, protocol="link")
    return {key: 100 * metrics[key] for key in METRICS}


def reference_optimisers_run(
    run: Path, data_root: Path, k: int, epochs: int, lr: float = 0.001
) -> dict[str, float]:
    """The reference code's training loop on the run's task, freshly initialised (seeded by
    the run's seed): per epoch ``k`` reconstruction(+KL) Adam updates of the encoder, one
    discriminator update, one generator update (adversarial term only) with its own Adam."""
    task, bundle, _ = load_run(run, data_root, random_init=True)
    graph = bundle.pretrain[0]
    encoder = list(task.generator_parameters())
    reconstruction, generator = torch.optim.Adam(encoder, lr=lr), torch.optim.Adam(encoder, lr=lr)
    discriminator = torch.optim.Adam(task.discriminator_parameters(), lr=lr)

    def update(optimiser: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    task.train()
    for _ in range(epochs):
        for _ in range(k):
            z, kl = task.encode(graph)
            update(reconstruction, task.reconstruction_loss(z, graph.edge_index) + kl)
        with torch.no_grad():
            z, _ = task.encode(graph)
        update(discriminator, task.prior_discriminator_loss(z))
        update(generator, task.prior_regulariser(task.encode(graph)[0]))
    x, _ = extract_embeddings(task, bundle.evaluation, torch.device("cpu"))
    result = link_prediction(torch.as_tensor(x).numpy(), None, bundle.evaluation.splits)
    return {key: 100 * getattr(result, key) for key in METRICS}


def _pretrain(task: str, run: Path, data_root: Path, k: int, steps: int, seed: int, separate: bool) -> None:
    pretrain(
        task,
        "cora",
        run,
        data_root=data_root,
        encoder_options={"output_dim": 32},
        task_options={
            "reconstruction": "dense",
            "reconstruction_steps": k,
            "separate_reconstruction": separate,
        },
        dataset_options={"link_split": True, "normalize_features": False},
        steps=steps,
        epochs=None,
        lr=0.001,
        optimizer="adamw",
        weight_decay=0.0,
        warmup=0.0,
        min_lr_ratio=1.0,
        seed=seed,
        threads=1,
        progress_bar=False,
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=["arga", "arvga"], default="arga")
    p.add_argument("--schedules", nargs="+", choices=list(SCHEDULES), default=list(SCHEDULES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--data-root", type=Path, default=DATA_ROOT)
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args()
    keys = [(f"{args.task}/{schedule}", seed) for schedule in args.schedules for seed in args.seeds]
    record_seeded_runs(
        args.output, keys, lambda name, seed, folder: one_run(*name.split("/"), seed, args.data_root, folder)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
