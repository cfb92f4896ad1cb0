"""Tile configurations of the Triton contrast kernels: what the autotuner chooses from.

One list per (kernel, dtype class, row width class). The ahead-of-time compile test
(``tests/test_contrast_triton_aot.py``) compiles every entry for Hopper (sm90) and checks
that its PTX uses tensor-core instructions for bf16 / fp16 / tf32 and that ptxas reports
no register spills, so an entry added here is checked on a machine without a GPU.

Row width classes: the fused kernels keep a whole row in registers / shared memory, padded
to ``BLOCK_D = next_pow2(d)``; rows wider than :func:`fused_max_d` take the chunked
("wide") kernels, whose ``BLOCK_D`` is a tuned chunk width.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

KERNELS = ("fwd", "fwd_wide", "bwd", "w", "wb")


class Tile(NamedTuple):
    block_m: int
    block_n: int  # columns per tile (``BLOCK_K`` for the ``wb`` GEMM)
    block_d: int  # 0: set by the row width (fused kernels)
    num_warps: int
    num_stages: int


def dtype_class(dtype: torch.dtype) -> str:
    """``"16"`` (fp16 / bf16), ``"32"`` (fp32) or ``"64"`` (fp64)."""
    return {torch.float16: "16", torch.bfloat16: "16", torch.float32: "32", torch.float64: "64"}[dtype]


def fused_max_d(dtype: torch.dtype, prec: str = "tf32") -> int:
    """Widest row the fused kernels hold whole (wider rows go through the wide kernels); full
    fp32 products (``prec="ieee"``) hold both operands in registers, so only narrow rows."""
    if dtype == torch.float32 and prec == "ieee":
        return 32
    return {"16": 256, "32": 128, "64": 64}[dtype_class(dtype)]


def fused_block_ds(dtype: torch.dtype, prec: str = "tf32") -> list[int]:
    """Every ``BLOCK_D`` a fused kernel can be compiled with for ``dtype``."""
    out, b = [], 16
    while b <= fused_max_d(dtype, prec):
        out.append(b)
        b *= 2
    return out


def configs(kernel: str, dtype: torch.dtype, block_d: int = 0, prec: str = "tf32") -> list[Tile]:
    """Autotuning candidates for ``kernel`` on ``dtype`` inputs (``block_d``: the padded row
    width of the fused kernels ``fwd`` / ``bwd``, ignored by the others; ``prec``: how fp32
    tiles are multiplied, ``"ieee"`` runs on the CUDA cores and needs smaller tiles)."""
    c = dtype_class(dtype)
    if c == "32" and prec == "ieee":
        c = "32ieee"
    wide_row = block_d * {"16": 2, "32": 4, "32ieee": 4, "64": 8}[c] > 256  # bytes of one row
    if c == "64":  # the tests' oracle dtype: correctness, not speed
        return [Tile(32, 16, 16, 4, 2) if kernel in ("fwd_wide", "w") else Tile(32, 32, 32, 4, 2)]
    if c == "32ieee":  # full fp32 products on the CUDA cores: small tiles
        return {
            "fwd": [Tile(64, 32, 0, 4, 2), Tile(32, 64, 0, 4, 2)],
            "fwd_wide": [Tile(64, 64, 16, 4, 2), Tile(32, 32, 32, 4, 2), Tile(32, 32, 16, 4, 1)],
            "bwd": [Tile(64, 16, 0, 4, 2), Tile(32, 16, 0, 4, 2), Tile(32, 32, 0, 4, 1)],
            "w": [Tile(64, 32, 32, 4, 2), Tile(32, 64, 32, 4, 2)],
            "wb": [Tile(64, 32, 64, 4, 2), Tile(32, 32, 128, 4, 2)],
        }[kernel]
    if kernel == "fwd":
        if not wide_row:
            return [
                Tile(128, 64, 0, 8, 3),
                Tile(128, 128, 0, 8, 3),
                Tile(64, 64, 0, 4, 3),
                Tile(64, 128, 0, 4, 3),
            ]
        return [Tile(128, 64, 0, 8, 2), Tile(64, 64, 0, 4, 2), Tile(64, 32, 0, 4, 3)]
    if kernel == "fwd_wide":
        bd = 64 if c == "16" else 32
        return [Tile(128, 64, bd, 8, 3), Tile(128, 128, bd, 8, 3), Tile(64, 64, bd, 4, 3)]
    if kernel == "bwd":
        if not wide_row:
            return [Tile(128, 64, 0, 8, 3), Tile(64, 64, 0, 4, 3), Tile(128, 32, 0, 8, 3)]
        return [Tile(64, 64, 0, 8, 2), Tile(64, 32, 0, 4, 2)]
    if kernel == "w":
        if c == "16":
            return [Tile(128, 128, 64, 8, 3), Tile(128, 64, 64, 4, 3), Tile(64, 64, 64, 4, 3)]
        return [Tile(128, 64, 32, 4, 3), Tile(64, 64, 32, 4, 3), Tile(128, 64, 32, 8, 3)]
    if kernel == "wb":
        bk = 64 if c == "16" else 32
        return [Tile(128, bk, 128, 8, 3), Tile(128, bk, 64, 4, 4), Tile(64, bk, 128, 4, 3)]
    raise ValueError(f"unknown kernel {kernel!r}; one of {KERNELS}")
