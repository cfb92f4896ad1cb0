"""docs/plugins.md documents every hook specification and every spec field: adding a hook
or a field without documenting it fails here."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from sslcore.plugins import hookspecs
from sslcore.plugins.specs import DatasetSpec, EncoderSpec, TaskSpec

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
HOOKS = sorted(
    name for name, obj in vars(hookspecs).items() if name.startswith("sslcore_") and inspect.isfunction(obj)
)


@pytest.fixture(scope="module")
def doc() -> str:
    assert DOC.is_file(), f"{DOC} is missing"
    return DOC.read_text(encoding="utf-8")


def first_block_after(doc: str, heading: str) -> str | None:
    """The first paragraph after the line ``heading`` (blank lines skipped), or None when
    the heading is absent or followed by another heading, a code block or nothing."""
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == heading)
    except StopIteration:
        return None
    paragraph: list[str] = []
    for line in lines[start + 1 :]:
        if not line.strip():
            if paragraph:
                break
            continue
        if line.startswith("#") or line.startswith("```"):
            break
        paragraph.append(line.strip())
    return " ".join(paragraph) or None


def test_hookspecs_are_found() -> None:
    assert HOOKS, "no sslcore_* hook specifications found in sslcore.plugins.hookspecs"
    for name in HOOKS:
        assert hasattr(getattr(hookspecs, name), "sslcore_spec"), f"{name} is not a hookspec"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_documented_heading(doc: str, hook: str) -> None:
    heading = f"### {hook}"
    assert re.search(rf"^{re.escape(heading)}\s*$", doc, re.M), (
        f"docs/plugins.md has no '{heading}' heading: document the hook (arguments, return value, example)"
    )
    paragraph = first_block_after(doc, heading)
    assert paragraph, f"'{heading}' in docs/plugins.md is not followed by a paragraph describing the hook"


@pytest.mark.parametrize(
    "field",
    [(cls.__name__, f.name) for cls in (TaskSpec, EncoderSpec, DatasetSpec) for f in dataclasses.fields(cls)],
    ids=lambda item: f"{item[0]}.{item[1]}",
)
def test_every_spec_field_is_documented(doc: str, field: tuple[str, str]) -> None:
    cls, name = field
    assert re.search(rf"`{re.escape(name)}`", doc), f"docs/plugins.md does not mention {cls} field `{name}`"
