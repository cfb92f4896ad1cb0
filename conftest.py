"""Session-wide test settings for the core and every plugin's tests."""

from __future__ import annotations

import os

import torch

# No GPU here: run the Triton kernels with Triton's CPU interpreter. It is chosen when triton
# is first imported, so it must be set before any test module imports it.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Under pytest-xdist each worker gets one intra-op thread, so two workers fill two cores
# instead of fighting over them.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
