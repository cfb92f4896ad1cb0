"""sslcore: self-supervised representation learning for vision, text and graphs."""

from sslcore.contrast import info_nce, negative_cosine, nt_xent
from sslcore.data import DatasetBundle, EvalSet, cache_dir, require_files
from sslcore.encoder import Encoder, WrappedEncoder
from sslcore.errors import (
    ConfigError,
    DataNotFoundError,
    NonFiniteLossError,
    SSLCoreError,
    UnknownNameError,
)
from sslcore.paradigms import (
    AdversarialTask,
    ContrastiveTask,
    GenerativeTask,
    Paradigm,
    PretextTask,
    TaskOutput,
)
from sslcore.plugins import DatasetSpec, EncoderSpec, TaskSpec, get_registry, hookimpl

__version__ = "0.1.0"

__all__ = [
    "AdversarialTask",
    "ConfigError",
    "ContrastiveTask",
    "DataNotFoundError",
    "DatasetBundle",
    "DatasetSpec",
    "Encoder",
    "EncoderSpec",
    "EvalSet",
    "GenerativeTask",
    "NonFiniteLossError",
    "Paradigm",
    "PretextTask",
    "SSLCoreError",
    "TaskOutput",
    "TaskSpec",
    "UnknownNameError",
    "WrappedEncoder",
    "__version__",
    "cache_dir",
    "get_registry",
    "hookimpl",
    "info_nce",
    "negative_cosine",
    "nt_xent",
    "require_files",
]
