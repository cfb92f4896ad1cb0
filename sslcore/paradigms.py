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
    """What ``PretextTask.forward`` returns: a scalar loss and detached metrics: floats, or
    0-d tensors left on the device (preferred: the trainer reads them once per log window,
    where ``float(x)`` / ``x.item()`` in ``forward`` would stall a GPU every step)."""

    loss: Tensor
    metrics: dict[str, float | Tensor] = field(default_factory=dict)


class PretextTask(nn.Module, ABC):
    """A self-supervised pretext task: encoder + heads + objective.

    Subclasses set the taxonomy facts as class attributes, implement :meth:`forward`,
    and may override :meth:`collate` (build views / corruptions from raw samples),
    :meth:`embed` (the downstream representation), :meth:`on_train_step_end`
    (momentum updates and queue pushes, called by the trainer after each step),
    :meth:`from_data` (build from the dataset's facts) and :meth:`encoder_info` (the facts
    a registered encoder is built from). A task with ``needs_indices = True`` gets
    ``(index, sample)`` pairs in :meth:`collate` (memory banks keyed by sample).
    """

    paradigm: ClassVar[Paradigm]
    domain: ClassVar[str]
    signal: ClassVar[str] = ""
    family: ClassVar[Family | None] = None
    negatives: ClassVar[Negatives] = "none"
    #: smallest batch the objective is defined for (contrastive losses need 2)
    min_batch_size: ClassVar[int] = 1
    #: when True the trainer feeds ``(index, sample)`` pairs to :meth:`collate`, ``index``
    #: being the sample's position in the pretraining set, ``0 <= index <
    #: info["num_pretrain_samples"]`` (see :class:`sslcore.data.IndexedDataset`)
    needs_indices: ClassVar[bool] = False

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    @classmethod
    def from_data(cls, encoder: nn.Module, info: Mapping[str, Any], **options: Any) -> PretextTask:
        """Build the task for a dataset described by ``info`` (see ``DatasetBundle.info``).

        The default ignores ``info``; tasks that need data facts (a tokenizer, image
        statistics, the number of features) override this. An override may name its own
        options and forward the rest to ``__init__`` with ``**options``; ``build_task``
        then accepts both sets. ``build_task`` adds ``info["num_pretrain_samples"]``.
        """
        return cls(encoder, **options)

    @classmethod
    def encoder_info(cls, info: Mapping[str, Any]) -> Mapping[str, Any]:
        """The facts a *registered* encoder is built from for this task (``build_task``
        passes them to the encoder factory instead of the dataset's ``info``).

        The default returns ``info`` unchanged; a task whose encoder sees something other
        than the raw samples overrides it, e.g. colorization encodes only the lightness of
        colour images: ``{**info, "in_channels": 1}``. Raise ``ConfigError`` here for data
        the task cannot use, before anything is built.
        """
        return info

    def collate(self, samples: list[Any]) -> Any:
        """Turn a list of raw pretraining samples into the batch ``forward`` takes (a list
        of ``(index, sample)`` pairs when :attr:`needs_indices` is set).

        Runs on the CPU, in DataLoader worker processes: build CPU tensors only, and never
        read the task's parameters or buffers here (they may live on a GPU)."""
        return default_collate(samples)

    def on_after_batch_transfer(self, batch: Any) -> Any:
        """The batch after the trainer moved it to the task's device, just before
        :meth:`forward` (identity by default): the place for batched work on the device,
        e.g. image augmentation of a whole batch on the GPU. Tensors created here belong on
        the batch's device."""
        return batch

    @abstractmethod
    def forward(self, batch: Any) -> TaskOutput:
        """Compute the pretext loss of one batch."""

    def embed(self, inputs: Any) -> Tensor:
        """Representation used downstream: ``[num_samples, encoder.output_dim]``."""
        return self.encoder(inputs)

    def on_train_step_end(self, progress: float) -> None:
        """Called by the trainer after every optimiser step; ``progress`` is in [0, 1]."""

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
    """Corrupt or hide part of the input and reconstruct it with a decoder.

    ``L = E_x[ -log p_dec(x | f(corrupt(x))) ]`` (reconstruction or likelihood loss).
    """

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
    """Generative-contrastive: a generator (encoder-decoder) and a discriminator.

    ``schedule = "joint"``: :meth:`forward` returns the summed loss and one optimiser
    updates everything (ELECTRA; no gradient flows through sampling).
    ``schedule = "alternating"``: the trainer keeps two optimisers and, every step,
    first minimises :meth:`discriminator_loss` over :meth:`discriminator_parameters`,
    then :meth:`generator_loss` over :meth:`generator_parameters` (GAN-style).
    """

    paradigm = Paradigm.ADVERSARIAL
    family = None
    negatives = "none"

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


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


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
    "count_parameters",
]
