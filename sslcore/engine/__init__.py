"""The training engine."""

from sslcore.engine.checkpoint import CheckpointDir, load_checkpoint, save_checkpoint
from sslcore.engine.config import TrainConfig
from sslcore.engine.trainer import Trainer, TrainResult, seed_everything

__all__ = [
    "CheckpointDir",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
]
