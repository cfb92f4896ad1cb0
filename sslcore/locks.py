"""One writer per folder: ``fcntl.flock`` (``msvcrt.locking`` on Windows) on
``<folder>/.sslcore.lock`` (``docs/distributed.md``, "One writer per folder"). The file is
never deleted: deleting a lock file lets two processes lock two files of the same name."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from sslcore.errors import SSLCoreError

LOCK_FILE = ".sslcore.lock"

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class FolderLockedError(SSLCoreError, RuntimeError):
    """Another process holds the folder's lock."""


class FolderLock:
    """Context manager holding the exclusive lock of ``folder`` (created if missing); ``what``
    names the folder in the error. Re-entrant within one process: a nested lock of a folder
    this process already holds is a no-op (a grid's runs inside its locked output)."""

    _held: dict[Path, int] = {}  # resolved folder -> nesting depth in this process

    def __init__(self, folder: str | Path, what: str = "run folder"):
        self.folder, self.what = Path(folder), what
        self._fd: int | None = None
        self._key: Path | None = None

    def __enter__(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._key = self.folder.resolve()
        if self._key in self._held:
            self._held[self._key] += 1
            return self
        path = self.folder / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            holder = _read_holder(fd)
            os.close(fd)
            raise FolderLockedError(
                f"{self.what} {self.folder} is in use by another process ({holder}); two processes "
                "never write one folder: wait for it to finish (or stop it), or choose another output folder"
            )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode())
        self._fd = fd
        self._held[self._key] = 1
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._key is not None
        self._held[self._key] -= 1
        if self._held[self._key] > 0:
            return
        del self._held[self._key]
        if self._fd is not None:
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 200).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "holder unknown"
