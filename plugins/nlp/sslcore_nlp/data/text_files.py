"""Strict reading of text files in an explicit encoding (UTF-8 unless told): a byte
sequence that does not decode is reported with the file and line it is on, not as an
anonymous ``UnicodeDecodeError``. A line ends at ``\n`` (``\r\n`` accepted), so line
numbers count ``\n`` bytes."""

from __future__ import annotations

from pathlib import Path

from sslcore.errors import SSLCoreError


class TextFormatError(SSLCoreError, ValueError):
    """A text file that does not decode or does not have the expected line format."""


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The contents of ``path``; raises :class:`TextFormatError` naming file and line."""
    data = Path(path).read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TextFormatError(
            f"{path}, line {line}: not valid {encoding} ({exc.reason} at byte {exc.start}: "
            f"{data[exc.start : exc.end]!r}); re-save it as {encoding} or, where the dataset has an "
            "`encoding` option, declare the file's actual one (e.g. encoding=latin-1)"
        ) from None


def read_lines(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """The lines of ``path`` without their line endings (see :func:`read_text`).

    Only ``\n`` ends a line: ``str.splitlines`` would also split at U+0085, U+2028 and
    other separators, which latin-1 text holds wherever the original had a Windows-1252
    ``\x85`` (an ellipsis), and line numbers would no longer match the file's."""
    lines = read_text(path, encoding).split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it does not start one
    return [line.removesuffix("\r") for line in lines]
