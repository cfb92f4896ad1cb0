"""How the fused GPU contrast kernels multiply fp32 inputs.

``"tf32"`` (the default) feeds fp32 tiles to the tensor cores as TF32 (10-bit mantissa,
fp32 accumulation; 370 against 51 TFLOP/s for plain fp32 on an H200). Its error against a
float64 reference is what the parity section of ``benchmarks/contrast_kernels.py --device
cuda`` reports (bound: 1e-3 relative). ``"ieee"`` keeps full fp32 products (the CUDA cores'
FMA path, several times slower).
bf16 / fp16 inputs always use the tensor cores directly, fp64 always uses fp64 products.

The default can be set for a process with ``SSLCORE_FP32_PRECISION=ieee``. Unlike
``torch.backends.cuda.matmul.allow_tf32`` (off by default), this switch only concerns
sslcore's own kernels (``backend="triton"``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

PRECISIONS = ("tf32", "ieee")


def _checked(mode: str) -> str:
    if mode not in PRECISIONS:
        raise ValueError(f"fp32 precision must be one of {', '.join(map(repr, PRECISIONS))}, got {mode!r}")
    return mode


_mode = _checked(os.environ.get("SSLCORE_FP32_PRECISION", "tf32"))


def get_fp32_precision() -> str:
    """``"tf32"`` or ``"ieee"``: how the Triton contrast kernels multiply fp32 tiles."""
    return _mode


def set_fp32_precision(mode: str) -> None:
    """Set how the Triton contrast kernels multiply fp32 tiles for this process."""
    global _mode
    _mode = _checked(mode)


@contextlib.contextmanager
def fp32_precision(mode: str) -> Iterator[None]:
    """``with fp32_precision("ieee"): ...`` — full fp32 products inside the block."""
    saved = get_fp32_precision()
    set_fp32_precision(mode)
    try:
        yield
    finally:
        set_fp32_precision(saved)
