"""Errors sslcore raises. Each names the problem and, where there is one, the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SSLCoreError(Exception):
    """Base class of every error sslcore raises on purpose."""


class UnknownNameError(SSLCoreError, KeyError):
    """A task, encoder, dataset, protocol or option name that is not known."""

    def __init__(self, kind: str, name: str, choices: Iterable[str]):
        self.kind, self.name, self.choices = kind, name, sorted(set(choices))
        msg = f"unknown {kind} {name!r}{suggest(name, self.choices)}"
        if self.choices:
            msg += f" Valid choices: {', '.join(self.choices)}."
        else:
            msg += f" No {kind} is registered: is the plugin that provides it installed?"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class AmbiguousNameError(SSLCoreError, LookupError):
    """A short name registered by more than one plugin."""

    def __init__(self, kind: str, name: str, qualified: Iterable[str]):
        options = sorted(qualified)
        plugins = ", ".join(q.split(":", 1)[0] for q in options)
        super().__init__(
            f"{kind} {name!r} is registered by more than one plugin ({plugins}); "
            f"use a qualified name: {' or '.join(options)}"
        )


class ConfigError(SSLCoreError, ValueError):
    """A configuration value or key that is not valid."""


class DataNotFoundError(SSLCoreError, FileNotFoundError):
    """A data root that lacks the files a dataset needs."""

    def __init__(self, dataset: str, root: object, expected: Iterable[str], hint: str = ""):
        files = "\n  ".join(str(f) for f in expected)
        msg = f"dataset {dataset!r}: files not found under {root}. Expected:\n  {files}"
        if hint:
            msg += f"\n{hint}"
        super().__init__(msg)  # one argument: str() is the message


class CorruptDataError(SSLCoreError, RuntimeError):
    """Data files that are present but cannot be read safely: truncated, corrupt, of
    another release, or (a pickle) asking for code other than the format needs. The
    message names the user's file and how to replace it."""


class NonFiniteLossError(SSLCoreError, FloatingPointError):
    """Training produced a NaN or infinite loss."""

    def __init__(self, step: int, value: float, checkpoint: object | None):
        self.step, self.value, self.checkpoint = step, value, checkpoint
        kept = f"the last good checkpoint is kept at {checkpoint}"
        if not checkpoint:
            kept = "no checkpoint had been written yet"
        super().__init__(
            f"loss is {value} at step {step}; training stopped and {kept}. "
            "Lower the learning rate, enable gradient clipping (--grad-clip) or check the data."
        )


class CheckpointError(SSLCoreError, RuntimeError):
    """A checkpoint that cannot be read (truncated, corrupt or of another task)."""


class PluginError(SSLCoreError, RuntimeError):
    """A plugin that failed to load or registered an invalid spec."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""
