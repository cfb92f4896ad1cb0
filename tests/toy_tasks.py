"""Tiny deterministic pretext tasks for the core's tests: no plugin, no data files.

Every task works on the "toy" domain, whose raw samples are 1-D float vectors of size
``DIM``; they are small enough that a training step takes about a millisecond.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sslcore import AdversarialTask, ContrastiveTask, GenerativeTask, TaskOutput, nt_xent

DIM = 8
DOMAIN = "toy"


def random_vectors(n: int, dim: int = DIM, seed: int = 0) -> list[Tensor]:
    """``n`` reproducible standard-normal vectors of size ``dim`` (a private generator:
    the global RNG is left alone)."""
    g = torch.Generator().manual_seed(seed)
    return list(torch.randn(n, dim, generator=g))


class VectorEncoder(nn.Module):
    """``f(x) = tanh(W x + b)``: ``[N, in_dim] -> [N, output_dim]``."""

    def __init__(self, in_dim: int = DIM, output_dim: int = 4):
        super().__init__()
        self.linear = nn.Linear(in_dim, output_dim)
        self.output_dim = output_dim

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(self.linear(x))


class AutoEncoder(GenerativeTask):
    """Reconstruct the vector from its code: ``L = mean ||g(f(x)) - x||^2``."""

    domain = DOMAIN
    signal = "reconstruction"

    def __init__(self, encoder: nn.Module, out_dim: int = DIM):
        super().__init__(encoder, nn.Linear(encoder.output_dim, out_dim))

    def forward(self, batch: Tensor) -> TaskOutput:
        recon = self.decoder(self.encoder(batch))
        loss = F.mse_loss(recon, batch)
        return TaskOutput(loss, {"mse": float(loss.detach())})


class IndexedAutoEncoder(AutoEncoder):
    """:class:`AutoEncoder` that asks the trainer for sample indices (``needs_indices``):
    :meth:`collate` gets ``(index, vector)`` pairs, returns ``(indices [N], vectors
    [N, DIM])`` and records every batch it builds in ``seen``."""

    needs_indices = True

    def __init__(self, encoder: nn.Module, out_dim: int = DIM):
        super().__init__(encoder, out_dim)
        self.seen: list[tuple[Tensor, Tensor]] = []

    def collate(self, samples: list[tuple[int, Tensor]]) -> tuple[Tensor, Tensor]:
        indices = torch.tensor([index for index, _ in samples])
        vectors = torch.stack([x for _, x in samples])
        self.seen.append((indices, vectors))
        return indices, vectors

    def forward(self, batch: tuple[Tensor, Tensor]) -> TaskOutput:
        return super().forward(batch[1])


class NoisyViewsContrast(ContrastiveTask):
    """SimCLR on vectors: two views ``x + sigma * eps`` (``eps`` drawn from the *global*
    torch RNG in :meth:`collate`, so resuming must restore the RNG), NT-Xent on the
    projections."""

    domain = DOMAIN
    family = "instance-instance"
    negatives = "end-to-end"
    signal = "noisy views"

    def __init__(self, encoder: nn.Module, proj_dim: int = 4, temperature: float = 0.5, noise: float = 0.1):
        super().__init__(encoder, nn.Linear(encoder.output_dim, proj_dim))
        self.temperature, self.noise = temperature, noise

    def collate(self, samples: list[Tensor]) -> tuple[Tensor, Tensor]:
        x = torch.stack(samples)
        return x + self.noise * torch.randn_like(x), x + self.noise * torch.randn_like(x)

    def forward(self, batch: tuple[Tensor, Tensor]) -> TaskOutput:
        z1, z2 = (self.head(self.encoder(v)) for v in batch)
        return TaskOutput(nt_xent(z1, z2, temperature=self.temperature))


class ToyGAN(AdversarialTask):
    """A GAN on vectors: generator ``g(f(noise))`` (encoder + decoder), discriminator a
    linear critic; trained with ``schedule="alternating"`` by default.

    ``L_D = BCE(D(x), 1) + BCE(D(G(n)), 0)``, ``L_G = BCE(D(G(n)), 1)``.
    """

    domain = DOMAIN
    signal = "real vs generated"

    def __init__(self, encoder: nn.Module, noise_dim: int = DIM, schedule: str = "alternating"):
        super().__init__(encoder, nn.Linear(DIM, 1), schedule=schedule)  # type: ignore[arg-type]
        self.decoder = nn.Linear(encoder.output_dim, DIM)
        self.noise_dim = noise_dim

    def collate(self, samples: list[Tensor]) -> dict[str, Tensor]:
        real = torch.stack(samples)
        return {"real": real, "noise": torch.randn(len(samples), self.noise_dim)}

    def generate(self, noise: Tensor) -> Tensor:
        return self.decoder(self.encoder(noise))

    def discriminator_loss(self, batch: dict[str, Any]) -> TaskOutput:
        real = self.discriminator(batch["real"])
        fake = self.discriminator(self.generate(batch["noise"]).detach())
        loss_real = F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
        loss_fake = F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        return TaskOutput(loss_real + loss_fake)

    def generator_loss(self, batch: dict[str, Any]) -> TaskOutput:
        fake = self.discriminator(self.generate(batch["noise"]))
        return TaskOutput(F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)))

    def forward(self, batch: dict[str, Any]) -> TaskOutput:
        if self.schedule == "joint":
            d, g = self.discriminator_loss(batch), self.generator_loss(batch)
            return TaskOutput(d.loss + g.loss)
        return super().forward(batch)


def make_autoencoder(seed: int = 0) -> AutoEncoder:
    torch.manual_seed(seed)
    return AutoEncoder(VectorEncoder())


def make_contrast(seed: int = 0, **options: Any) -> NoisyViewsContrast:
    torch.manual_seed(seed)
    return NoisyViewsContrast(VectorEncoder(), **options)


def make_gan(seed: int = 0, schedule: str = "alternating") -> ToyGAN:
    torch.manual_seed(seed)
    return ToyGAN(VectorEncoder(), schedule=schedule)
