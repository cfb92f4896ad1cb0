"""How the fused GPU contrast kernels multiply fp32 inputs.

``"tf32"`` (the default) feeds fp32 tiles to the tensor cores as TF32 (10-bit mantissa,
fp32 accumulation): 7x the fp32 FMA rate on an H100/H200; the log-partition and its
gradients stay within about 1e-3 relative of a float64 reference for unit-norm rows.
``"ieee"`` keeps full fp32 products (the CUDA cores' FMA path, several times slower).
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
