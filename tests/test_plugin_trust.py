"""Plugin discovery trusts installed distributions, not the working directory: a
``*.dist-info`` that Python finds only because the current directory is on ``sys.path``
(``''`` for ``python -c`` and the REPL, the directory itself for ``python -m``) is not
imported, and the skip is reported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_dist import REPO, write_dist

LOAD_REGISTRY = (
    "import sslcore\n"
    "from sslcore.plugins import get_registry\n"
    "reg = get_registry()\n"
    "print('LOADED', sorted(reg.plugins))\n"
    "for failure in reg.failures:\n"
    "    print('FAILED', failure)\n"
)


def evil_dist(folder: Path) -> Path:
    """``folder/evil_plugin-0.1.dist-info`` with an entry point to ``evil_mod``, whose
    import writes ``folder/marker``; returns the marker's path."""
    marker = folder / "marker"
    source = f"open({str(marker)!r}, 'w').write('evil_mod was imported')\n"
    write_dist(folder, "evil-plugin", "0.1", {"evil": "evil_mod"}, {"evil_mod": source})
    return marker


def run(args: list[str], cwd: Path, pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    env.pop("SSLCORE_DISABLE_PLUGINS", None)
    env.pop("SSLCORE_STRICT_PLUGINS", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "args", [["-m", "sslcore", "plugins"], ["-c", LOAD_REGISTRY]], ids=["python-m-sslcore", "import-sslcore"]
)
def test_a_dist_info_in_the_working_directory_is_not_imported(tmp_path: Path, args: list[str]) -> None:
    marker = evil_dist(tmp_path)
    proc = run(args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists(), "a plugin was imported from the working directory"
    skipped = [line for line in proc.stdout.splitlines() if line.startswith("FAILED") and "evil" in line]
    assert len(skipped) == 1, proc.stdout
    assert "evil-plugin 0.1" in skipped[0] and "working directory" in skipped[0]
    assert str(tmp_path) in skipped[0] and "pip install" in skipped[0]
    assert "vision" in proc.stdout and "graph" in proc.stdout  # the installed plugins still load


def test_the_same_folder_named_explicitly_on_pythonpath_is_trusted(tmp_path: Path) -> None:
    marker = evil_dist(tmp_path)
    proc = run(["-m", "sslcore", "plugins"], cwd=tmp_path, pythonpath=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert marker.exists() and "evil" in proc.stdout


@pytest.mark.parametrize(
    "args", [["-m", "sslcore", "plugins"], ["-c", LOAD_REGISTRY]], ids=["python-m", "-c"]
)
def test_running_from_a_plugin_source_folder_loads_the_installed_plugin(args: list[str]) -> None:
    folder = REPO / "plugins" / "graph"  # holds sslcore_graph.egg-info: the same distribution as installed
    assert (folder / "sslcore_graph.egg-info" / "entry_points.txt").is_file()
    proc = run(args, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert "graph" in proc.stdout and "FAILED" not in proc.stdout, proc.stdout


def test_a_stray_copy_does_not_take_the_name_of_an_installed_plugin(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    source = f"open({str(marker)!r}, 'w').write('imported')\n"
    write_dist(tmp_path, "graph-impostor", "6.6", {"graph": "impostor_mod"}, {"impostor_mod": source})
    proc = run(["-c", LOAD_REGISTRY], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    assert "'graph'" in proc.stdout.splitlines()[0]  # LOADED [..., 'graph', ...]: the installed one
    assert "FAILED plugin 'graph' (graph-impostor 6.6) failed: not loaded" in proc.stdout
