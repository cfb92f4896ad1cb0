"""The three paradigms of self-supervision as thin abstract bases.

A :class:`PretextTask` is an ``nn.Module`` that holds its encoder and heads, declares
where it sits in the taxonomy (Liu et al. 2021, "Self-supervised Learning: Generative
or Contrastive") and maps one collated batch to a :class:`TaskOutput`.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from torch import Tensor, nn
from torch.utils.data import default_collate

Family = Literal["context-instance", "instance-instance"]
Negatives = Literal["end-to-end", "memory-bank", "momentum", "none"]
Schedule = Literal["joint", "alternating"]

FAMILIES: tuple[str, ...] = ("context-instance", "instance-instance")
NEGATIVES: tuple[str, ...] = ("end-to-end", "memory-bank", "momentum", "none")
SCHEDULES: tuple[str, ...] = ("joint", "alternating")


class Paradigm(enum.StrEnum):
    """The three families of self-supervised objectives."""

    GENERATIVE = "generative"
    CONTRASTIVE = "contrastive"
    ADVERSARIAL = "generative-contrastive"


@dataclass
class TaskOutput:
    """What ``PretextTask.forward`` returns: a scalar loss and detached metrics, floats or
    (preferred, no GPU stall) 0-d tensors left on the device."""

    loss: Tensor
    metrics: dict[str, float | Tensor] = field(default_factory=dict)


class PretextTask(nn.Module, ABC):
    """A self-supervised pretext task: encoder + heads + objective.

    Subclasses set the taxonomy facts as class attributes, implement :meth:`forward`, and
    may override the hooks below (each says when it is called).
    """

    paradigm: ClassVar[Paradigm]
    domain: ClassVar[str]
    signal: ClassVar[str] = ""
    family: ClassVar[Family | None] = None
    negatives: ClassVar[Negatives] = "none"
    #: smallest batch the objective is defined for (contrastive losses need 2)
    min_batch_size: ClassVar[int] = 1
    #: what the task needs of its encoder beyond the contract, shown by ``sslcore tasks NAME``
    #: (e.g. "feature_map(): spatial features"); empty when any encoder does
    encoder_requirements: ClassVar[str] = ""
    #: when True :meth:`collate` gets ``(index, sample)`` pairs, ``0 <= index < info["num_pretrain_samples"]``
    needs_indices: ClassVar[bool] = False

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    @classmethod
    def from_data(cls, encoder: nn.Module, info: Mapping[str, Any], **options: Any) -> PretextTask:
        """Build the task for a dataset described by ``info``; the default ignores it (an
        override may name its own options, see ``docs/plugins.md``, "Methods")."""
        return cls(encoder, **options)

    @classmethod
    def encoder_info(cls, info: Mapping[str, Any]) -> Mapping[str, Any]:
        """The facts a *registered* encoder is built from for this task (default: ``info``;
        colorization: ``{**info, "in_channels": 1}``); raise ``ConfigError`` for unusable data."""
        return info

    def collate(self, samples: list[Any]) -> Any:
        """Turn a list of raw pretraining samples into the batch ``forward`` takes; runs on the
        CPU in DataLoader workers: never read the task's parameters or buffers here."""
        return default_collate(samples)

    def on_after_batch_transfer(self, batch: Any) -> Any:
        """The batch after the trainer moved it to the task's device, just before :meth:`forward`
        (identity by default): the place for batched work on the device."""
        return batch

    @abstractmethod
    def forward(self, batch: Any) -> TaskOutput:
        """Compute the pretext loss of one batch."""

    def embed(self, inputs: Any) -> Tensor:
        """Representation used downstream: ``[num_samples, encoder.output_dim]``."""
        return self.encoder(inputs)

    def on_train_step_end(self, progress: float) -> None:
        """Called by the trainer after every optimiser step (momentum updates, queue pushes);
        ``progress`` is in [0, 1]."""

    @classmethod
    def taxonomy(cls) -> dict[str, str]:
        return {
            "paradigm": str(cls.paradigm),
            "domain": cls.domain,
            "signal": cls.signal,
            "family": cls.family or "-",
            "negatives": cls.negatives,
        }


class GenerativeTask(PretextTask):
    """Corrupt or hide part of the input and reconstruct it with a decoder:
    ``L = E_x[ -log p_dec(x | f(corrupt(x))) ]`` (reconstruction or likelihood loss)."""

    paradigm = Paradigm.GENERATIVE
    family = None
    negatives = "none"

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__(encoder)
        self.decoder = decoder


class ContrastiveTask(PretextTask):
    """Score views or context-instance pairs with a small head (projector, critic,
    classifier) and train with a contrastive or pseudo-label loss."""

    paradigm = Paradigm.CONTRASTIVE
    min_batch_size = 2

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__(encoder)
        self.head = head


class AdversarialTask(PretextTask):
    """Generative-contrastive: a generator (encoder-decoder) and a discriminator. ``"joint"``:
    :meth:`forward` returns the summed loss (ELECTRA); ``"alternating"``: each step minimises
    :meth:`discriminator_loss`, then :meth:`generator_loss`, with two optimisers (GAN-style)."""

    paradigm = Paradigm.ADVERSARIAL
    family = None
    negatives = "none"
    #: the alternating schedule's players, in update order: each step minimises
    #: ``<player>_loss(batch)`` with an optimiser of its own over ``<player>_parameters()``;
    #: the step's loss is the sum of every player's but the discriminator's. A task may add
    #: players, e.g. a reconstruction update with its own optimiser state.
    players: tuple[str, ...] = ("discriminator", "generator")

    def __init__(self, encoder: nn.Module, discriminator: nn.Module, schedule: Schedule = "joint"):
        super().__init__(encoder)
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        self.discriminator = discriminator
        self.schedule = schedule

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        return self.discriminator.parameters()

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        disc = {id(p) for p in self.discriminator_parameters()}
        return (p for p in self.parameters() if id(p) not in disc)

    def discriminator_loss(self, batch: Any) -> TaskOutput:
        raise NotImplementedError(f"{type(self).__name__} has no alternating discriminator step")

    def generator_loss(self, batch: Any) -> TaskOutput:
        raise NotImplementedError(f"{type(self).__name__} has no alternating generator step")

    def forward(self, batch: Any) -> TaskOutput:
        if self.schedule == "alternating":
            return self.generator_loss(batch)
        raise NotImplementedError(f"{type(self).__name__} must implement forward() for 'joint'")


__all__ = [
    "AdversarialTask",
    "ContrastiveTask",
    "FAMILIES",
    "Family",
    "GenerativeTask",
    "NEGATIVES",
    "Negatives",
    "Paradigm",
    "PretextTask",
    "SCHEDULES",
    "TaskOutput",
]
