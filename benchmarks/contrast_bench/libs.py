"""The third-party libraries of the benchmark, installed into ``benchmarks/.bench-libs`` (never
project dependencies), and lightly's ``NTXentLoss`` imported without torchvision."""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.machinery
import importlib.util
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

from . import HERE

LIBS = HERE / ".bench-libs"

#: import name -> pip name; installed with ``--no-deps`` into LIBS, never as project dependencies
BENCH_LIBS = {
    "lightly": "lightly",  # NTXentLoss, both modes
    "pytorch_metric_learning": "pytorch-metric-learning",  # CPU mode
    "pluggy": "pluggy",  # `import sslcore` needs these two; the GPU image has neither
    "tqdm": "tqdm",
}


def use_bench_libs() -> None:
    """Make LIBS importable, after the environment's own packages."""
    if str(LIBS) not in sys.path:
        sys.path.append(str(LIBS))


def ensure_bench_libs(install: bool, needed: tuple[str, ...] = tuple(BENCH_LIBS)) -> None:
    """Check that LIBS holds the ``needed`` packages of BENCH_LIBS; with ``install``, pip-install
    the missing ones (``--no-deps``); without, stop with what to do."""
    missing = [BENCH_LIBS[mod] for mod in needed if not (LIBS / mod).is_dir()]
    if not missing:
        return
    if not install:
        raise SystemExit(
            f"{LIBS} lacks {', '.join(missing)} and this mode never calls pip: run "
            "`.venv/bin/python benchmarks/contrast_kernels.py --install-libs` where a package index "
            "is reachable, then carry benchmarks/.bench-libs"
        )
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(LIBS), *missing]
    subprocess.run(cmd, check=True)


@contextlib.contextmanager
def _torchvision_ops_stub() -> Iterator[None]:
    """Without torchvision, a stand-in ``torchvision.ops`` for the length of one import:
    ``lightly.models.utils`` imports ``StochasticDepth`` from it for a helper NTXentLoss never
    calls. The stand-in leaves ``sys.modules`` afterwards."""
    if importlib.util.find_spec("torchvision") is not None:
        yield
        return

    class StochasticDepth:  # noqa: D101 - never instantiated by NTXentLoss
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("torchvision is not installed (benchmark stand-in)")

    fake = {name: types.ModuleType(name) for name in ("torchvision", "torchvision.ops")}
    for name, mod in fake.items():
        mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    fake["torchvision.ops"].StochasticDepth = StochasticDepth  # type: ignore[attr-defined]
    sys.modules.update(fake)
    try:
        yield
    finally:
        for name in fake:
            sys.modules.pop(name, None)


@functools.cache
def lightly_ntxent_class() -> type:
    """lightly's ``NTXentLoss`` class, imported from its own module. lightly's package
    ``__init__`` files (``lightly.loss``, ``lightly.models``, ``lightly.models.modules``) import
    every loss and model, which pulls in torchvision and PIL; they are skipped, so NTXentLoss
    needs only the lightly wheel, torch and numpy (the GPU image has no torchvision)."""
    use_bench_libs()
    import lightly  # its __init__ imports nothing

    root = Path(lightly.__file__).parent
    for pkg in ("lightly.loss", "lightly.models", "lightly.models.modules"):
        if pkg not in sys.modules:
            mod = types.ModuleType(pkg)
            mod.__path__ = [str(root.joinpath(*pkg.split(".")[1:]))]
            sys.modules[pkg] = mod
    with _torchvision_ops_stub():
        return importlib.import_module("lightly.loss.ntx_ent_loss").NTXentLoss
