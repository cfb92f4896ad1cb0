"""Make a real (importlib.metadata-visible) distribution with sslcore entry points in a
temporary folder, without pip: a ``<name>-<version>.dist-info`` beside the modules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABULAR = REPO / "examples" / "sslcore-tabular"


def write_dist(
    site: Path, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str] | None = None
) -> Path:
    """Write ``site/<dist>-<version>.dist-info`` declaring ``entry_points`` (name -> target)
    in the group ``sslcore.plugins``, plus module files ``modules`` (name -> source)."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[sslcore.plugins]\n{lines}")
    for name, source in (modules or {}).items():
        (site / f"{name}.py").write_text(source)
    return info


def run_cli(
    args: list[str], pythonpath: list[Path], env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sslcore ARGS`` with extra import paths; returns the finished process."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), full_env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "sslcore", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
