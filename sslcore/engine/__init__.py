"""The training engine."""

from sslcore.engine.checkpoint import CheckpointDir, load_checkpoint, save_checkpoint
from sslcore.engine.config import TrainConfig
from sslcore.engine.schedule import cosine_ramp, linear_warmup, warmup_cosine
from sslcore.engine.trainer import Trainer, TrainResult, seed_everything

__all__ = [
    "cosine_ramp",
    "linear_warmup",
    "warmup_cosine",
    "CheckpointDir",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
]
