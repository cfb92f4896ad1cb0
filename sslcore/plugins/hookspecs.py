"""Hook specifications. A plugin is a module (or object) with functions of these names
decorated with :data:`sslcore.hookimpl`, found through the entry-point group
``sslcore.plugins``."""

from __future__ import annotations

import pluggy

from sslcore.plugins.specs import DatasetSpec, EncoderSpec, TaskSpec

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
