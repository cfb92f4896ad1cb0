"""DGI on Cora: sslcore's ``dgi`` task through the trainer beside PyG's own Deep Graph
Infomax example (``examples/infomax_transductive.py`` of torch_geometric, written inline
below as the example has it, without its per-epoch print), each timed the same way:
wall time of a whole run of ``epochs`` epochs from model construction to the last step,
the device synchronised at both ends, divided by ``epochs``; interleaved repeats."""

from __future__ import annotations

import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import DeepGraphInfomax, GCNConv

from sslcore.data import DatasetBundle
from sslcore.engine import TrainConfig, Trainer
from sslcore.engine.device import resolve_precision

from .timing import free_device_memory, timed
from .training import Context, Recipe

#: DGI as the standard suite trains it; Adam without weight decay at a constant lr 0.001 is
#: the PyG example's optimiser too
DGI_TRAIN = {"lr": 0.001, "optimizer": "adam", "weight_decay": 0.0, "warmup": 0.0, "min_lr_ratio": 1.0}


# -- PyG's examples/infomax_transductive.py, as written there ------------------------------
class Encoder(nn.Module):
    def __init__(self, in_channels: int, hidden_channels: int):
        super().__init__()
        self.conv = GCNConv(in_channels, hidden_channels, cached=True)
        self.prelu = nn.PReLU(hidden_channels)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = self.conv(x, edge_index)
        x = self.prelu(x)
        return x


def corruption(x: torch.Tensor, edge_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[torch.randperm(x.size(0))], edge_index


def pyg_example_run(dataset: Planetoid, device: torch.device, epochs: int) -> float:
    """The example's model, optimiser and training loop for ``epochs`` epochs; the last loss."""
    model = DeepGraphInfomax(
        hidden_channels=512,
        encoder=Encoder(dataset.num_features, 512),
        summary=lambda z, *args, **kwargs: torch.sigmoid(z.mean(dim=0)),
        corruption=corruption,
    ).to(device)
    data = dataset[0].to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)

    def train() -> float:
        model.train()
        optimizer.zero_grad()
        pos_z, neg_z, summary = model(data.x, data.edge_index)
        loss = model.loss(pos_z, neg_z, summary)
        loss.backward()
        optimizer.step()
        return loss.item()

    loss = float("nan")
    for _epoch in range(1, epochs + 1):
        loss = train()
    return loss


# -- sslcore ---------------------------------------------------------------------------------
def sslcore_dgi_run(bundle: DatasetBundle, device: torch.device, epochs: int, precision: str) -> float:
    """``dgi`` (default encoder: one GCN layer, 512 units, PReLU) built and trained by the
    trainer for ``epochs`` full-graph steps; the last loss."""
    task = Recipe("dgi", None, 1).build(bundle)
    config = TrainConfig(
        epochs=epochs,
        device=str(device),
        precision=precision,  # type: ignore[arg-type]
        progress_bar=False,
        log_every=max(epochs // 6, 1),
        checkpoint_every=10**9,
        **DGI_TRAIN,
    )
    return Trainer(task, config).fit(bundle.pretrain, batch_size=bundle.batch_size).final_loss


def planetoid_copy(data_root: Path) -> Planetoid:
    """``Planetoid(<copy of data_root/planetoid>, "Cora")``, as the example loads it (no
    feature normalisation); the copy takes the processed files Planetoid writes."""
    folder = Path(tempfile.mkdtemp(prefix="gpu-throughput-planetoid-"))
    shutil.copytree(data_root / "planetoid" / "Cora", folder / "Cora")
    return Planetoid(str(folder), "Cora")


def interleaved(runs: dict[str, Callable[[], float]], device: torch.device, repeats: int) -> dict[str, Any]:
    """Wall seconds of each run, ``repeats`` rounds in turn (load changes hit every run)."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    losses: dict[str, float] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            losses[name], wall = timed(run, device)
            seconds[name].append(wall)
            free_device_memory(device)
    return {"seconds": seconds, "final_loss": losses}


def dgi_comparison(ctx: Context, device: torch.device, epochs: int, repeats: int) -> dict[str, Any]:
    """ms per epoch of sslcore's ``dgi`` (default precision, and fp32 on CUDA) and of the PyG
    example on ``device``: medians of ``repeats`` interleaved runs after one short warm-up
    run of each; ``ratio`` = sslcore (default precision) / PyG."""
    bundle = ctx.bundle("cora")
    dataset = planetoid_copy(ctx.data_root)
    precisions = {"sslcore": "auto", **({"sslcore_fp32": "fp32"} if device.type == "cuda" else {})}

    def runs(n: int) -> dict[str, Callable[[], float]]:
        ours = {name: (lambda p=p: sslcore_dgi_run(bundle, device, n, p)) for name, p in precisions.items()}
        return {**ours, "pyg_example": lambda: pyg_example_run(dataset, device, n)}

    interleaved(runs(min(epochs, 5)), device, 1)  # warm-up: CUDA context, cuBLAS / cuSPARSE handles
    measured = interleaved(runs(epochs), device, repeats)
    ms = {name: 1000 * statistics.median(s) / epochs for name, s in measured["seconds"].items()}
    return {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "epochs": epochs,
        "repeats": repeats,
        "sslcore_precision": resolve_precision("auto", device),
        "epoch_ms_median": ms,
        "run_seconds": measured["seconds"],
        "final_loss": measured["final_loss"],
        "ratio": ms["sslcore"] / ms["pyg_example"],
    }


def dgi(ctx: Context) -> dict[str, Any]:
    """DGI vs PyG on ``ctx.device`` (300 epochs; 5 in a smoke run), and on the CPU too when
    ``ctx.cpu_too`` and the device is a GPU."""
    epochs = 5 if ctx.smoke else 300
    repeats = 1 if ctx.smoke else ctx.repeats
    out: dict[str, Any] = {"dataset": "graph:cora", "encoder": "gcn (1 layer, 512, PReLU)"}
    out[ctx.device.type] = dgi_comparison(ctx, ctx.device, epochs, repeats)
    if ctx.cpu_too and ctx.cuda:
        out["cpu"] = dgi_comparison(ctx, torch.device("cpu"), epochs, repeats)
    return out
