"""The shared part of the adversarial (generative-contrastive) image tasks: a generative
task as the generator, a discriminator judging its outputs, alternating updates."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sslcore import AdversarialTask, GenerativeTask, TaskOutput


def real_loss(logits: Tensor, real: bool) -> Tensor:
    """BCE of discriminator logits against the label real (1) or generated (0)."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))


class AdversarialReconstruction(AdversarialTask):
    r"""A generative task ``G`` (its encoder, decoder, ``collate``, ``embed`` and its
    ``predict(batch)`` / ``reconstruction_loss(prediction, batch)``, as in
    :class:`~sslcore_vision.tasks.masked_reconstruction.MaskedReconstruction` and
    :class:`~sslcore_vision.tasks.colorization.Colorization`) trained against a
    discriminator ``D``, alternating updates:

    .. math::
        \mathcal{L}_D = \text{BCE}(D(r), 1) + \text{BCE}(D(\text{sg}[\tilde r]), 0),\qquad
        \mathcal{L}_G = (1 - \lambda)\, \mathcal{L}_{rec}(G(x), x) + \lambda\, \text{BCE}(D(\tilde r), 1)

    where ``(r, r~) = judged(batch, G(x))`` are the real and the generated images shown to
    ``D`` (subclasses define :meth:`judged`) and ``lambda = lambda_adv`` (0.001 in the
    context encoder). The discriminator step computes ``G(x)`` without gradients, so the
    generator gets none there.
    """

    domain = "vision"

    def __init__(self, generator: GenerativeTask, discriminator: nn.Module, lambda_adv: float):
        super().__init__(generator.encoder, discriminator, schedule="alternating")
        self.generator = generator
        self.lambda_adv = lambda_adv

    def judged(self, batch: Any, prediction: Tensor) -> tuple[Tensor, Tensor]:
        """``(real, generated)`` images for the discriminator, each ``[N, C_D, H, W]``."""
        raise NotImplementedError

    def collate(self, samples: list[Any]) -> Any:
        return self.generator.collate(samples)

    def embed(self, inputs: Tensor) -> Tensor:
        return self.generator.embed(inputs)

    def discriminator_loss(self, batch: Any) -> TaskOutput:
        with torch.no_grad():
            prediction = self.generator.predict(batch)
        real, fake = (self.discriminator(x) for x in self.judged(batch, prediction))
        metrics = {
            "real_score": torch.sigmoid(real).mean().detach(),
            "fake_score": torch.sigmoid(fake).mean().detach(),
        }
        return TaskOutput(real_loss(real, True) + real_loss(fake, False), metrics)

    def generator_loss(self, batch: Any) -> TaskOutput:
        prediction = self.generator.predict(batch)
        reconstruction = self.generator.reconstruction_loss(prediction, batch)
        adversarial = real_loss(self.discriminator(self.judged(batch, prediction)[1]), True)
        loss = (1 - self.lambda_adv) * reconstruction + self.lambda_adv * adversarial
        metrics = {"reconstruction": reconstruction.detach(), "adversarial": adversarial.detach()}
        return TaskOutput(loss, metrics)
