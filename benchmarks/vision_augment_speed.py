"""Augmentation speed: SimCLR's two views of a batch, per image (the CPU path: ``collate``
with torchvision.transforms.v2, one image at a time) vs batched (the device path:
``sslcore_vision.batched.BatchedViews`` over the stacked uint8 batch), on this machine's CPU.

Cases: 28x28 grey (Fashion-MNIST / MNIST: crop, flip, brightness + contrast jitter) and
32x32 colour (CIFAR: crop, flip, full colour jitter in random order, grayscale); blur with
``--blur``. Random uint8 images; each figure is images per second (two views each), the
median of ``--repeats`` timed batches after one warm-up. One process, ``--threads`` torch
threads (a DataLoader would run the per-image path in several worker processes; the
batched path runs once per batch on the device). GPU speed is not measured here.

    .venv/bin/python benchmarks/vision_augment_speed.py [--batch 512] [--repeats 3] [--threads 1] [--blur]

Writes ``benchmarks/results/vision_augment_speed.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _common import provenance

from sslcore.io import atomic_write_text
from sslcore_vision.batched import BatchedViews
from sslcore_vision.transforms import TwoViewCollate, simclr_augmentation

RESULTS = Path(__file__).resolve().parent / "results" / "vision_augment_speed.json"
CASES = {"28x28 grey": (28, 1), "32x32 colour": (32, 3)}


def images_per_second(run: Callable[[], object], batch: int, repeats: int) -> float:
    """Median over ``repeats`` timed calls (after one warm-up) of ``batch / seconds``."""
    run()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(batch / (time.perf_counter() - start))
    return statistics.median(rates)


def measure(size: int, channels: int, batch: int, repeats: int, blur: bool) -> dict[str, float]:
    augmentation = simclr_augmentation(size, channels, [0.5] * channels, [0.25] * channels, blur=blur)
    samples = list(torch.randint(0, 256, (batch, channels, size, size), dtype=torch.uint8))
    per_image = TwoViewCollate(augmentation)
    batched = BatchedViews([augmentation.distribution] * 2)
    rates = {
        "per-image": images_per_second(lambda: per_image(samples), batch, repeats),
        "batched": images_per_second(lambda: batched(torch.stack(samples)), batch, repeats),
    }
    return {**rates, "speed-up": rates["batched"] / rates["per-image"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--blur", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = {name: measure(*case, args.batch, args.repeats, args.blur) for name, case in CASES.items()}
    record = {
        "settings": vars(args),
        "images_per_second": results,
        "provenance": provenance(torch_threads=args.threads, load_average=list(os.getloadavg())),
    }
    atomic_write_text(RESULTS, json.dumps(record, indent=2) + "\n")
    print(f"| images ({args.batch} per batch, 2 views each) | per-image CPU path | batched path | speed-up |")
    print("|---|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['per-image']:,.0f}/s | {r['batched']:,.0f}/s | {r['speed-up']:.1f}x |")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
