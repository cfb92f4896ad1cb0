"""Make the checkout's distributions visible to ``importlib.metadata`` without pip, a build
backend or a network (the device machine has none): for each project folder, a
``<name>-<version>.dist-info`` (``METADATA`` and ``entry_points.txt`` from its
``pyproject.toml``: the ``sslcore.plugins`` plugins, the ``pytest11`` plugin and the console
script) in ``--site``. Prints the ``PYTHONPATH`` to use: ``--site`` then the project folders
(the packages are imported from the checkout itself, as an editable install would).

    python3 benchmarks/gpu_throughput_bench/offline_dists.py --site /tmp/sslcore-site . plugins/vision ...
"""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path


def entry_points_text(project: dict) -> str:
    """``entry_points.txt`` of a ``[project]`` table: its entry-point groups and scripts."""
    groups = dict(project.get("entry-points", {}))
    if project.get("scripts"):
        groups["console_scripts"] = project["scripts"]
    return "".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items()) + "\n"
        for group, points in groups.items()
    )


def write_dist_info(site: Path, folder: Path) -> Path:
    """``site/<name>-<version>.dist-info`` for the project in ``folder``."""
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    requires = "".join(f"Requires-Dist: {r}\n" for r in project.get("dependencies", []))
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{requires}")
    (info / "entry_points.txt").write_text(entry_points_text(project))
    (info / "INSTALLER").write_text("gpu_throughput_bench.offline_dists\n")
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, required=True)
    parser.add_argument("projects", type=Path, nargs="+", help="folders holding a pyproject.toml")
    args = parser.parse_args()
    args.site.mkdir(parents=True, exist_ok=True)
    for folder in args.projects:
        write_dist_info(args.site, folder)
    print(os.pathsep.join(str(p.resolve()) for p in [args.site, *args.projects]))


if __name__ == "__main__":
    main()
