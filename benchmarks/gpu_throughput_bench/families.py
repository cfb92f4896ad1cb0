"""The trainer-based families: SimCLR with the small CNN and with ResNet-18, masked-patch
denoising, tiny-BERT MLM and GRACE. Each builds its task from registered names, trains it
through ``sslcore.engine.Trainer`` for ``ctx.seconds`` and returns its figures."""

from __future__ import annotations

from typing import Any

import torch

from sslcore.data import DatasetBundle

from .training import Context, Recipe, train_and_measure

#: the standard suite's SimCLR options (sslcore/compare/suites/standard.toml)
SIMCLR_OPTIONS = {"temperature": 0.2, "crop_min_scale": 0.08, "jitter": 0.5}
#: GRACE on Cora as plugins/graph/README.md runs it
GRACE_ENCODER = {"num_layers": 2, "hidden_dim": 512, "output_dim": 256, "activation": "relu"}
GRACE_TASK = {"proj_hidden_dim": 256, "proj_dim": 256, "drop_edge_1": 0.3}
GRACE_TRAIN = {"lr": 5e-4, "optimizer": "adam", "weight_decay": 1e-5, "warmup": 0.0, "min_lr_ratio": 1.0}
SYNTHETIC_NOTE = (
    "synthetic data: uniform random uint8 RGB 32x32 images built in-process (Fashion-MNIST has no "
    "colour 32x32 images; throughput does not depend on pixel values)"
)


def pick(ctx: Context, full: int, smoke: int) -> int:
    return smoke if ctx.smoke else full


def log_every(ctx: Context, cuda: int, cpu: int) -> int:
    """Steps per log window: short windows on the GPU (many per family), one step in a smoke run."""
    return 1 if ctx.smoke else (cuda if ctx.cuda else cpu)


def warm_windows(ctx: Context) -> int:
    """Leading windows left out of the medians (worker start-up; cuDNN autotuning on CUDA)."""
    return 2 if ctx.cuda and not ctx.smoke else 1


def fashion_mnist(ctx: Context) -> DatasetBundle:
    subsets = {"train_subset": 2048, "test_subset": 512} if ctx.smoke else {}
    return ctx.bundle("fashion-mnist", **subsets)


def synthetic_rgb32(num_train: int, num_test: int) -> DatasetBundle:
    """``num_train + num_test`` uniform random uint8 ``[3, 32, 32]`` images, 10 random
    labels, bundled as the vision plugin bundles its image datasets."""
    from sslcore_vision.datasets.image_bundle import image_bundle

    generator = torch.Generator().manual_seed(0)
    n = num_train + num_test
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (n,), generator=generator)
    train, test = (images[:num_train], labels[:num_train]), (images[num_train:], labels[num_train:])
    return image_bundle("synthetic-rgb32", train, test, num_classes=10)


def vision_run(ctx: Context, recipe: Recipe, bundle: DatasetBundle, dataset: str) -> dict[str, Any]:
    out = train_and_measure(
        ctx, recipe, bundle, {"seconds": ctx.seconds}, log_every(ctx, 25, 5), warm_windows(ctx)
    )
    return {"dataset": dataset, "images_per_s": out["samples_per_s"], **out}


def simclr_small_cnn(ctx: Context) -> dict[str, Any]:
    """SimCLR + ``small_cnn`` (default width) on Fashion-MNIST, batch 512, views as the task
    draws them by default (``augment_on="auto"``: on the GPU when training on CUDA)."""
    recipe = Recipe("simclr", "small_cnn", pick(ctx, 512, 32), SIMCLR_OPTIONS, train={"lr": 2e-3})
    return vision_run(ctx, recipe, fashion_mnist(ctx), "vision:fashion-mnist")


def simclr_resnet18(ctx: Context) -> dict[str, Any]:
    """SimCLR + ``resnet18`` (3x3 stride-1 stem for 32x32 images) on synthetic RGB 32x32
    images, batch 512, bf16 autocast on CUDA (the ``auto`` precision elsewhere)."""
    precision = "bf16" if ctx.cuda else "auto"
    recipe = Recipe(
        "simclr",
        "resnet18",
        pick(ctx, 512, 8),
        SIMCLR_OPTIONS,
        encoder_options={"small_images": True},
        train={"lr": 2e-3, "precision": precision},
    )
    bundle = synthetic_rgb32(pick(ctx, 50_000, 256), pick(ctx, 1000, 64))
    return {**vision_run(ctx, recipe, bundle, "synthetic-rgb32 (50k x 3 x 32 x 32)"), "note": SYNTHETIC_NOTE}


def masked(ctx: Context) -> dict[str, Any]:
    """``masked_denoising`` (SimMIM/MAE-style: 60 % of 4x4 patches hidden, L2 on them) with
    ``small_cnn`` on Fashion-MNIST, batch 512."""
    recipe = Recipe("masked_denoising", "small_cnn", pick(ctx, 512, 32), train={"lr": 1e-3})
    return vision_run(ctx, recipe, fashion_mnist(ctx), "vision:fashion-mnist")


def mlm(ctx: Context) -> dict[str, Any]:
    """MLM with the tiny BERT (2 layers, 128 hidden) on WikiText-2 blocks, batch 128."""
    max_length = pick(ctx, 128, 32)
    bundle = ctx.bundle("wikitext2", vocab_size=8000, max_length=max_length)
    recipe = Recipe(
        "mlm",
        "bert",
        pick(ctx, 128, 8),
        {"mask_prob": 0.15},
        {"preset": "tiny", "pooling": "mean", "dropout": 0.1},
        train={"lr": 2e-3, "weight_decay": 0.01},
    )
    out = train_and_measure(
        ctx, recipe, bundle, {"seconds": ctx.seconds}, log_every(ctx, 50, 5), warm_windows(ctx)
    )
    return {
        "dataset": "nlp:wikitext2",
        "max_length": max_length,
        "sequences_per_s": out["samples_per_s"],
        "tokens_per_s": out["samples_per_s"] * max_length,
        **out,
    }


def grace(ctx: Context) -> dict[str, Any]:
    """GRACE on Cora (full graph per step) with the README's recipe, 400 epochs or
    ``ctx.seconds``, whichever ends first."""
    bundle = ctx.bundle("cora")
    recipe = Recipe("grace", "gcn", 1, GRACE_TASK, GRACE_ENCODER, train=GRACE_TRAIN)
    budget = {"epochs": pick(ctx, 400, 3), "seconds": ctx.seconds}
    out = train_and_measure(ctx, recipe, bundle, budget, log_every(ctx, 20, 5), warm_windows(ctx))
    nodes = int(bundle.pretrain[0].num_nodes)  # type: ignore[index]
    return {
        "dataset": "graph:cora",
        "epochs_per_s": out["steps_per_s"],
        "epoch_ms_median": out["step_ms_median"],
        "nodes_per_s": nodes * out["steps_per_s"],
        **out,
    }
