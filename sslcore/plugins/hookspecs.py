"""Hook specifications. A plugin is a module (or object) with functions of these names
decorated with :data:`sslcore.hookimpl`, found through the entry-point group
``sslcore.plugins``. The ``sslcore_register_*`` hooks are called once, when the plugin
loads; the others when the core needs the domain's part of a job (call them through
:attr:`sslcore.plugins.Registry.hook`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from sslcore.plugins.specs import DatasetSpec, EncoderSpec, TaskSpec

if TYPE_CHECKING:
    from torch import nn

    from sslcore.data import DatasetBundle

PROJECT = "sslcore"
ENTRY_POINT_GROUP = "sslcore.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def sslcore_register_tasks() -> list[TaskSpec]:
    """Return the pretext tasks this plugin provides.

    Example::

        @hookimpl
        def sslcore_register_tasks():
            return [TaskSpec("simclr", domain="vision", paradigm=Paradigm.CONTRASTIVE,
                             family="instance-instance", negatives="end-to-end",
                             factory="my_plugin.simclr:SimCLR", summary="SimCLR")]
    """


@hookspec
def sslcore_register_encoders() -> list[EncoderSpec]:
    """Return the encoders this plugin provides.

    Example::

        @hookimpl
        def sslcore_register_encoders():
            return [EncoderSpec("mlp", domain="tabular", factory="my_plugin.mlp:build")]
    """


@hookspec
def sslcore_register_datasets() -> list[DatasetSpec]:
    """Return the datasets this plugin provides.

    Example::

        @hookimpl
        def sslcore_register_datasets():
            return [DatasetSpec("wine", domain="tabular", sample="row",
                                factory="my_plugin.data:wine", needs_root=False)]
    """


@hookspec
def sslcore_export_extras(task: nn.Module, info: Mapping[str, Any], out_dir: Path) -> dict[str, Path] | None:
    """Write what an export of ``task``'s run needs besides the encoder's weights
    (:func:`sslcore.export.export_run`) into ``out_dir``, e.g. a ``transformers`` directory
    with the tokenizer of the dataset's ``info``; return ``{name: path}`` of what was
    written, or ``None`` when this plugin has nothing to add for ``task``."""


@hookspec(firstresult=True)
def sslcore_raw_features(bundle: DatasetBundle) -> nn.Module | None:
    """Return the raw-feature baseline of ``bundle`` if it is of this plugin's domain, else
    ``None``: a parameter-free module whose ``embed(inputs)`` maps an evaluation batch to
    features ``[rows, d]`` (e.g. :class:`sslcore.compare.baselines.RawFeatures`). The first
    answer wins; without one, tensor batches are flattened."""
