"""Every Triton contrast-kernel configuration compiled ahead of time for Hopper (sm90) on
this CPU-only machine (``tests/triton_aot.py``, the ptxas of the Triton wheel): bf16 and tf32
tiles reach the tensor cores (``wgmma`` with those input types), full-fp32 tiles do not
(that is what ``"ieee"`` means), fp64 uses fp64 MMA, and ptxas reports no register spills
and at most the 227 KB of shared memory a Hopper block may use."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.triton_aot import job_id, jobs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SOURCES = [
    ROOT / "sslcore/contrast/_triton_kernels.py",
    ROOT / "sslcore/contrast/triton_configs.py",
    ROOT / "sslcore/contrast/triton_lse.py",
    HERE / "triton_aot.py",
]
HOPPER_SHARED = 227 * 1024
JOBS = jobs()

if importlib.util.find_spec("triton") is None:
    pytest.skip("triton is not installed", allow_module_level=True)


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """All jobs' reports, compiled once per source version (one process holds the lock;
    pytest-xdist's other workers wait and read its file)."""
    from filelock import FileLock

    digest = hashlib.sha256(b"".join(p.read_bytes() for p in SOURCES)).hexdigest()[:16]
    shared = tmp_path_factory.getbasetemp().parent
    out = shared / f"triton_aot_{digest}.json"
    with FileLock(str(out) + ".lock"):
        if not out.exists():
            env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
            proc = subprocess.run(
                [sys.executable, str(HERE / "triton_aot.py"), "--out", str(out), "--workers", "2"],
                capture_output=True,
                text=True,
                env=env,
                timeout=1800,
            )
            if proc.returncode != 0:
                pytest.fail(f"ahead-of-time compile failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return {r["id"]: r for r in json.loads(out.read_text())}


def test_every_configuration_is_compiled(compiled: dict[str, dict]) -> None:
    assert set(compiled) == {job_id(j) for j in JOBS}
    kernels = {(j["kernel"], j["dtype"], j["prec"]) for j in JOBS}
    assert {k for k, _, _ in kernels} == {"fwd", "fwd_wide", "bwd", "w", "wb"}
    assert {(d, p) for _, d, p in kernels} == {
        ("bf16", "ieee"),
        ("fp32", "tf32"),
        ("fp32", "ieee"),
        ("fp64", "ieee"),
    }


@pytest.mark.parametrize("job", JOBS, ids=job_id)
def test_configuration_compiles_for_hopper_without_spills(job: dict, compiled: dict[str, dict]) -> None:
    r = compiled[job_id(job)]
    assert "error" not in r, r.get("error")
    assert r["spill_stores"] == 0 and r["spill_loads"] == 0, f"{r['registers']} registers and spills: {r}"
    assert r["shared_bytes"] <= HOPPER_SHARED
    kinds = " ".join(r["mma_kinds"])
    if job["dtype"] == "bf16":
        assert r["wgmma"] and ".bf16.bf16" in kinds, kinds
    elif job["dtype"] == "fp32" and job["prec"] == "tf32":
        assert r["wgmma"] and ".tf32.tf32" in kinds, kinds
    elif job["dtype"] == "fp32":  # "ieee": exact fp32 products on the CUDA cores
        assert not r["wgmma"] and not r["mma"]
    else:  # fp64: the fp64 MMA
        assert r["mma"] and ".f64.f64" in kinds, kinds
