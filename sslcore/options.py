"""Option values checked against a factory's type hints and declared ranges, before a run starts.

A task, encoder, dataset or evaluation protocol declares what its options accept in its
signature; ranges are ``typing.Annotated`` metadata from ``annotated_types`` (the
markers pydantic reads)::

    from typing import Annotated
    from annotated_types import Ge, Gt, Interval

    def __init__(self, encoder, info, temperature: Annotated[float, Gt(0)] = 0.2,
                 proj_dim: Annotated[int, Ge(1)] = 128,
                 mask_ratio: Annotated[float, Interval(gt=0, lt=1)] = 0.6): ...

Understood types: ``int``, ``float`` (an int is fine), ``bool`` (not an int), ``str``,
``None``, paths, ``Literal``, ``Optional``/``Union``, ``tuple``/``list``/``Sequence``/``set``
(any sized iterable but a string is accepted for each: JSON and TOML have no tuples),
``dict``/``Mapping``, ``Callable`` and plain classes; ranges: ``Gt``, ``Ge``, ``Lt``, ``Le``, ``Interval``,
``MultipleOf``, ``MinLen``, ``MaxLen``, ``Len``, ``Predicate``. An unannotated parameter
is checked against its default's type when that is a bool, a number (then any int or
float) or a string. A hint that cannot be resolved (an import under ``TYPE_CHECKING``)
is skipped, never guessed. :mod:`sslcore.build`, :mod:`sslcore.runs` and
:mod:`sslcore.compare` call :func:`check_values` for every component they build.
"""

from __future__ import annotations

import ast
import collections.abc as cabc
import inspect
import numbers
import operator
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union

import annotated_types as at

from sslcore.errors import ConfigError

#: the CLI flag that sets an option of each kind of component
FLAGS = {
    "task": "--task-opt",
    "encoder": "--encoder-opt",
    "dataset": "--dataset-opt",
    "protocol": "--protocol-opt",
}

EMPTY = inspect.Parameter.empty
_SHELL_SAFE = re.compile(r"[\w.,+=:/@%-]+")


class _Unknown:
    """The hint of an option whose annotation could not be resolved: anything passes."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Option:
    """One keyword option of a factory: its resolved type hint and its default."""

    name: str
    hint: Any = UNKNOWN
    default: Any = EMPTY
    annotated: bool = True  # False: ``hint`` comes from the default's type


# --- reading a factory's options ---


def resolved_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """``fn``'s annotations evaluated (``Annotated`` kept); a class's are its ``__init__``'s.
    An annotation that cannot be evaluated is left out instead of failing the others."""
    target: Any = fn.__init__ if isinstance(fn, type) else fn  # type: ignore[misc]
    target = inspect.unwrap(getattr(target, "__func__", target))
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # one unresolvable name: evaluate the annotations one by one
        pass
    namespace = getattr(target, "__globals__", {})
    hints = {}
    for name, annotation in (getattr(target, "__annotations__", None) or {}).items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, dict(namespace))  # what get_type_hints does
            except Exception:
                continue
        hints[name] = annotation
    return hints


def _default_hint(default: Any) -> Any:
    if isinstance(default, bool):
        return bool
    if isinstance(default, numbers.Real):
        return float  # an int default does not rule out a float
    if isinstance(default, str):
        return str
    return UNKNOWN


def option_specs(fn: Callable[..., Any], reserved: int = 0, exclude: Iterable[str] = ()) -> dict[str, Option]:
    """Named keyword options of ``fn`` after its first ``reserved`` parameters, less
    ``exclude``, with their resolved hints and defaults."""
    params = list(inspect.signature(fn).parameters.values())[reserved:]
    hints = resolved_hints(fn)
    skip = set(exclude)
    out = {}
    for p in params:
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) or p.name in skip:
            continue
        annotated = p.annotation is not EMPTY
        hint = hints.get(p.name, UNKNOWN) if annotated else _default_hint(p.default)
        out[p.name] = Option(p.name, hint, p.default, annotated)
    return out


# --- checking one value ---


@dataclass(frozen=True)
class _Problem:
    reason: str  # "must be > 0" or "must be a float, not str"
    out_of_range: bool = False
    base: str = ""  # for a value out of range: what it is ("a float")


# origins, as typing.get_origin gives them (typing.List -> list, typing.Sequence -> abc.Sequence)
_SEQUENCES = {tuple, list, cabc.Sequence, cabc.MutableSequence}
_SETS = {set, frozenset, cabc.Set, cabc.MutableSet}
_ITERABLES = {cabc.Iterable, cabc.Collection}
_COLLECTIONS = _SEQUENCES | _SETS | _ITERABLES
_MAPPINGS = {dict, cabc.Mapping, cabc.MutableMapping}
_UNIONS = (Union, types.UnionType)


def _origin(hint: Any) -> Any:
    return typing.get_origin(hint) or hint


def _constraints(metadata: Iterable[Any]) -> list[Any]:
    out = []
    for m in metadata:
        if isinstance(m, at.GroupedMetadata):  # Interval, Len
            out += _constraints(m)
        elif isinstance(m, at.BaseMetadata | at.Predicate):
            out.append(m)
    return out


#: the markers sslcore checks: class, attribute, test of (value, bound), text of the bound
_MARKERS = (
    (at.Gt, "gt", operator.gt, "> {!r}"),
    (at.Ge, "ge", operator.ge, ">= {!r}"),
    (at.Lt, "lt", operator.lt, "< {!r}"),
    (at.Le, "le", operator.le, "<= {!r}"),
    (at.MultipleOf, "multiple_of", lambda v, m: v % m == 0, "a multiple of {!r}"),
    (at.MinLen, "min_length", lambda v, m: len(v) >= m, "at least {} long"),
    (at.MaxLen, "max_length", lambda v, m: len(v) <= m, "at most {} long"),
    (at.Predicate, "func", lambda v, f: f(v), "accepted by {}"),
)


def _marker(m: Any) -> tuple[Callable[[Any, Any], Any], str, Any] | None:
    """The test, text and bound of marker ``m``; None for metadata sslcore does not check."""
    for cls, field, test, text in _MARKERS:
        if isinstance(m, cls):
            return test, text, getattr(m, field)
    return None


def _holds(value: Any, m: Any) -> bool:
    found = _marker(m)
    try:
        return found is None or bool(found[0](value, found[2]))
    except Exception:  # a comparison the value does not support: it fails the constraint
        return False


def _constraint_text(m: Any) -> str:
    found = _marker(m)
    if found is None:
        return repr(m)
    _, text, bound = found
    return text.format(getattr(bound, "__name__", repr(bound)) if isinstance(m, at.Predicate) else bound)


def _bounds(metadata: Iterable[Any]) -> str:
    """``"> 0"``, ``"in (0, 1]"`` (one lower and one upper bound), ``">= 1 and a multiple of 2"``."""
    found = _constraints(metadata)
    lower = [m for m in found if isinstance(m, at.Gt | at.Ge)]
    upper = [m for m in found if isinstance(m, at.Lt | at.Le)]
    if len(lower) == len(upper) == 1 and len(found) == 2:
        (lo,), (hi,) = lower, upper
        left = f"({lo.gt!r}" if isinstance(lo, at.Gt) else f"[{lo.ge!r}"
        right = f"{hi.lt!r})" if isinstance(hi, at.Lt) else f"{hi.le!r}]"
        return f"in {left}, {right}"
    return " and ".join(_constraint_text(m) for m in found)


def _is_path(hint: Any) -> bool:
    return hint is os.PathLike or (isinstance(hint, type) and issubclass(hint, PurePath))


def _plain(hint: Any, value: Any) -> bool | None:
    """Whether ``value`` is of the plain (non-generic) type ``hint``; None when sslcore
    cannot tell (then the value passes)."""
    if hint is None or hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is complex:
        return isinstance(value, numbers.Number) and not isinstance(value, bool)
    if hint is str or hint is bytes:
        return isinstance(value, hint)
    if _is_path(hint):
        return isinstance(value, str | os.PathLike)
    if hint is cabc.Callable:
        return callable(value)
    if isinstance(hint, type):
        try:
            return isinstance(value, hint)
        except TypeError:  # a non-runtime Protocol
            return None
    return None


def _check(value: Any, hint: Any) -> _Problem | None:
    """Why ``value`` does not fit ``hint``, or None when it does (or cannot be told)."""
    if hint is UNKNOWN or hint is Any or hint is object:
        return None
    origin, args = _origin(hint), typing.get_args(hint)
    if origin is Annotated:
        inner = _check(value, args[0])
        if inner is not None:
            return inner if inner.out_of_range else _mismatch(value, hint)
        failed = [m for m in _constraints(args[1:]) if not _holds(value, m)]
        if failed:
            bounds = _bounds(args[1:])
            return _Problem(f"must be {bounds}", True, describe(args[0]))
        return None
    if origin in _UNIONS:
        problems = [_check(value, a) for a in args]
        if any(p is None for p in problems):
            return None
        ranged = [p for p in problems if p is not None and p.out_of_range]
        return ranged[0] if ranged else _mismatch(value, hint)
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return None
        if type(value) in {type(a) for a in args}:  # the right type, not one of the values
            return _Problem(f"must be {describe(hint)}", True)
        return _mismatch(value, hint)
    if origin in _COLLECTIONS:
        if not _is_collection(value):
            return _mismatch(value, hint)
        fixed = origin is tuple and args and args[-1] is not Ellipsis
        hints = (() if args == ((),) else args) if fixed else [args[0] if args else UNKNOWN] * len(value)
        if len(value) != len(hints):
            return _Problem(f"must be {describe(hint)}, not {len(value)} items")
        return _first((f"item {i} ({v!r})", v, h) for i, (v, h) in enumerate(zip(value, hints)))
    if origin in _MAPPINGS:
        if not isinstance(value, Mapping):
            return _mismatch(value, hint)
        key, item = args if len(args) == 2 else (UNKNOWN, UNKNOWN)
        return _first((f"entry {k!r}:", x, h) for k, v in value.items() for x, h in ((k, key), (v, item)))
    if origin is cabc.Callable:
        return None if callable(value) else _mismatch(value, hint)
    if origin is type:
        return None
    ok = _plain(origin, value)
    return _mismatch(value, hint) if ok is False else None


def _is_collection(value: Any) -> bool:
    """A list, tuple, set, array, ...: sized and iterable, but not a string or a mapping."""
    if isinstance(value, str | bytes | Mapping):
        return False
    try:
        len(value)
        iter(value)
    except TypeError:
        return False
    return True


def _first(checks: Iterable[tuple[str, Any, Any]]) -> _Problem | None:
    """The first problem of the ``(prefix, value, hint)`` checks, its reason after the prefix."""
    for prefix, value, hint in checks:
        problem = _check(value, hint)
        if problem is not None:
            return replace(problem, reason=f"{prefix} {problem.reason}")
    return None


def _mismatch(value: Any, hint: Any) -> _Problem:
    return _Problem(f"must be {describe(hint)}, not {type(value).__name__}")


def _bare(text: str) -> str:
    for article in ("a ", "an "):
        if text.startswith(article):
            return text[len(article) :]
    return text


def _plural(text: str) -> str:
    """``"a float > 0"`` -> ``"floats > 0"``, for "a list of ..."."""
    text = _bare(text)
    first, _, rest = text.partition(" ")
    if first in ("int", "float", "string", "path", "callable"):
        return " ".join([first + "s", *([rest] if rest else [])])
    return text


_NAMES = {
    bool: "True or False",
    int: "an int",
    float: "a float",
    complex: "a number",
    str: "a string",
    bytes: "bytes",
    type(None): "None",
}


def describe(hint: Any) -> str:
    """What ``hint`` accepts, in words: ``"a float > 0"``, ``"an int >= 1 or None"``."""
    if hint is UNKNOWN or hint is Any or hint is object:
        return "any value"
    if hint is None:
        return "None"
    origin, args = _origin(hint), typing.get_args(hint)
    if origin is Annotated:
        bounds = _bounds(args[1:])
        return f"{describe(args[0])} {bounds}" if bounds else describe(args[0])
    if origin in _UNIONS:
        parts = sorted(args, key=lambda a: a is type(None))  # None last
        return " or ".join(describe(a) for a in parts)
    if origin is Literal:
        return ("one of " if len(args) > 1 else "") + ", ".join(repr(a) for a in args)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return f"a tuple ({', '.join(_bare(describe(a)) for a in args if a != ())})"  # tuple[()]: ((),)
    if origin in _COLLECTIONS:
        return "a list" + (f" of {_plural(describe(args[0]))}" if args else "")
    if origin in _MAPPINGS:
        return "a dict" + (
            f" of {_plural(describe(args[0]))} to {_plural(describe(args[1]))}" if args else ""
        )
    if origin is cabc.Callable:
        return "a callable"
    if origin in _NAMES:
        return _NAMES[origin]
    if _is_path(origin):
        return "a path"
    if isinstance(origin, type):
        return f"a {origin.__name__}"
    return "any value"


def understood(hint: Any) -> bool:
    """Whether the checker can check values against ``hint`` (an option typed so that a
    bad value is caught), as opposed to letting anything through."""
    if hint is UNKNOWN:
        return False
    origin, args = _origin(hint), typing.get_args(hint)
    if origin is Annotated:
        return understood(args[0])
    if origin in _UNIONS:
        return all(understood(a) for a in args)
    if origin is Literal or hint is Any or hint is object:
        return True
    if args and (origin in _COLLECTIONS or origin in _MAPPINGS):
        return all(understood(a) for a in args if a is not Ellipsis and a != ())
    return _plain(origin, object()) is not None or origin is type or hint is None


def value_problem(value: Any, hint: Any) -> str | None:
    """Why ``value`` does not fit ``hint`` (``"must be > 0"``), or None when it does."""
    return getattr(_check(value, hint), "reason", None)


def value_error(value: Any, hint: Any) -> str | None:
    """Why ``value`` does not fit ``hint``, ending with the value given, or None when it
    fits: ``"must be > 0, got 0"``, ``"must be an int > 0 or None, got str '10'"``
    (:class:`sslcore.engine.TrainConfig`'s messages: ``"steps must be > 0, got 0"``)."""
    problem = _check(value, hint)
    if problem is None:
        return None
    if problem.out_of_range:
        return f"{problem.reason}, got {value!r}"
    return f"must be {describe(hint)}, got {type(value).__name__} {value!r}"


# --- checking a component's options ---


def _cli_value(value: Any) -> str:
    """``value`` as ``--task-opt key=<this>`` spells it (parsed back by ``ast.literal_eval``,
    or kept as a string)."""
    if isinstance(value, str):
        try:
            ast.literal_eval(value)  # "1" would come back an int: quote it
            plain = False
        except (ValueError, SyntaxError):
            plain = True
        return value if plain and value.strip() == value else repr(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, tuple | list):  # a list: no parentheses for the shell
        return "[" + ",".join(_cli_value(v) if not isinstance(v, str) else repr(v) for v in value) + "]"
    return repr(value).replace(" ", "")


def _example(option: Option, flag: str) -> str:
    default = option.default
    if default is EMPTY or default is None or _check(default, option.hint) is not None:
        return ""
    if not flag:
        return f"e.g. {option.name}={default!r}"
    assignment = f"{option.name}={_cli_value(default)}"
    if not _SHELL_SAFE.fullmatch(assignment):
        assignment = f'"{assignment}"'
    return f"e.g. {flag} {assignment}"


def value_problems(specs: Mapping[str, Option], options: Mapping[str, Any], flag: str = "") -> list[str]:
    """One line per option in ``options`` whose value does not fit its declaration in
    ``specs`` (options ``specs`` does not declare are not checked here)."""
    lines = []
    for name, value in options.items():
        option = specs.get(name)
        if option is None:
            continue
        problem = _check(value, option.hint)
        if problem is None:
            continue
        example = _example(option, flag)
        notes = [problem.base] if problem.out_of_range and problem.base else []
        notes += [example] if example else []
        lines.append(f"{name}={value!r}: {problem.reason}" + (f" ({', '.join(notes)})" if notes else ""))
    return lines


def check_values(what: str, specs: Mapping[str, Option], options: Mapping[str, Any], flag: str = "") -> None:
    """Raise :class:`ConfigError` naming ``what`` (``"task 'simclr'"``), every option
    whose value is wrong, the value given, what is expected and an example, e.g.
    ``task 'simclr' option temperature=-0.1: must be > 0 (a float, e.g. --task-opt temperature=0.2)``."""
    lines = value_problems(specs, options, flag)
    if len(lines) == 1:
        raise ConfigError(f"{what} option {lines[0]}")
    if lines:
        raise ConfigError(f"{what}: {len(lines)} option values are invalid:\n  - " + "\n  - ".join(lines))


def declaration_problems(what: str, specs: Mapping[str, Option]) -> list[str]:
    """A factory's own declarations checked: every option whose default is a number has a
    type hint the checker understands, and every default passes its option's checks."""
    problems = []
    for option in specs.values():
        numeric = isinstance(option.default, numbers.Real) and not isinstance(option.default, bool)
        if numeric and not (option.annotated and understood(option.hint)):
            problems.append(
                f"{what} option {option.name} (default {option.default!r}) has no type hint sslcore "
                f"can check: annotate it (e.g. {option.name}: {type(option.default).__name__} = ...)"
            )
        if option.default is not EMPTY:
            problem = _check(option.default, option.hint)
            if problem is not None:
                problems.append(
                    f"{what} option {option.name}: its default {option.default!r} {problem.reason}"
                )
    return problems
