"""Shared by the foundation benchmark scripts: machine facts and result writing."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from sslcore.io import atomic_write_text
from sslcore.runs import versions


def provenance(**machine: Any) -> dict[str, Any]:
    """Machine, versions and time of a benchmark record; ``machine`` adds load figures etc."""
    return {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), **machine},
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_result(path: Path, record: dict[str, Any], table: str) -> int:
    """Write ``record`` as JSON, print ``table``; exit code 0 if the record is accepted."""
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    print(table)
    print(f"\nwritten to {path}")
    return 0 if record["accepted"] else 1
