"""Atomic file writes (a temporary file in the same folder, flushed, fsynced, renamed; see
``docs/distributed.md``, "A kill mid-write") and JSON / JSONL reads whose errors name the
file, the line and the repair."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sslcore.errors import ConfigError

TEMP_SUFFIX = ".tmp"


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def remove_orphaned_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files that :func:`atomic_write` calls killed mid-write left in
    ``folder`` (not recursive). Only call it while holding the folder's lock: a live
    writer's temporary file looks the same."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    orphans = [p for p in folder.glob(f".*{TEMP_SUFFIX}") if p.is_file() and p.name.count(".") >= 3]
    for path in orphans:
        path.unlink(missing_ok=True)
    return orphans


def remove_tree(path: str | Path) -> None:
    """Delete the folder ``path`` so that no other process sees it half deleted: it is
    renamed into a fresh hidden folder beside it first (a no-op when another process
    moved or removed it already), then deleted."""
    path = Path(path)
    aside = Path(tempfile.mkdtemp(prefix=f".{path.name[:12]}-old-", dir=path.parent))
    try:
        os.replace(path, aside / path.name)
    except OSError:  # already replaced or removed by another process
        pass
    shutil.rmtree(aside, ignore_errors=True)


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; ConfigError naming the file, line and column if it is not JSON."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "repair that line, or restore the file (sslcore writes it atomically, so a broken "
            "one was edited by hand or by another program)"
        ) from None


def read_jsonl(path: str | Path) -> list[Any]:
    """The records of a JSON-lines file. A torn last line (a crash mid-append: no final
    newline and not JSON) is left out with a warning; any other bad line is a ConfigError
    naming the file and the line."""
    text = Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if number == len(lines):  # the last line, with no newline after it
                warnings.warn(
                    f"{path}: line {number} is incomplete (a write interrupted by a crash) and is ignored",
                    stacklevel=2,
                )
                continue
            raise ConfigError(
                f"{path}: line {number} is not valid JSON ({exc.msg}); delete or repair that line"
            ) from None
    return records
