"""What the context tasks share: the channel check plus normalisation built from a
dataset's ``info``, and the pseudo-label classification objective (rotation, relative
position, jigsaw)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.transforms import v2

from sslcore import ContrastiveTask, TaskOutput
from sslcore.data import info_get
from sslcore_vision.channels import check_encoder_channels
from sslcore_vision.transforms import to_normalised_float


def checked_normaliser(encoder: nn.Module, info: Mapping[str, Any], task: str) -> v2.Compose:
    """:func:`~sslcore_vision.channels.check_encoder_channels`, then the dataset's ``uint8 -> (x / 255 - mean) / std``."""
    check_encoder_channels(encoder, info, task)
    return to_normalised_float(info_get(info, "mean"), info_get(info, "std"))


class PseudoLabelTask(ContrastiveTask):
    r"""A context-instance task whose head classifies a label made from the image's own
    structure: :math:`\mathcal{L} = \mathrm{CE}(h(\cdot), y)`, reported with its accuracy.

    Subclasses implement :meth:`logits` (``batch -> (logits [M, K], labels [M])``).
    """

    domain = "vision"
    family = "context-instance"
    negatives = "none"

    @abstractmethod
    def logits(self, batch: Any) -> tuple[Tensor, Tensor]:
        """Class scores ``[M, K]`` and pseudo-labels ``[M]`` of one collated batch."""

    def forward(self, batch: Any) -> TaskOutput:
        logits, labels = self.logits(batch)
        accuracy = (logits.detach().argmax(dim=1) == labels).float().mean()
        return TaskOutput(F.cross_entropy(logits, labels), {"accuracy": accuracy})
