"""Adversarially regularized graph auto-encoders (Pan et al. 2018, "Adversarially
Regularized Graph Autoencoder for Graph Embedding", IJCAI): ARGA and ARVGA."""

from __future__ import annotations

from typing import Annotated

import torch
from annotated_types import Ge
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import ARGA, MLP, InnerProductDecoder

from sslcore.paradigms import AdversarialTask, TaskOutput
from sslcore_graph.tasks.autoencoders import AutoEncoding, LatentGCN, Reconstruction, check_reconstruction


class AdversarialGraphAutoEncoder(AutoEncoding, AdversarialTask):
    r"""ARGA: a graph auto-encoder (the generator, :class:`LatentGCN` + inner-product
    decoder) whose embeddings an MLP discriminator :math:`D` tells apart from samples of
    the prior :math:`p(z) = \mathcal N(0, I)`; ``schedule = "alternating"``:

    .. math::
        \mathcal{L}_D = -\mathbb E_{z' \sim p}\log \sigma(D(z'))
                        - \frac1N \sum_i \log\big(1 - \sigma(D(z_i))\big), \qquad
        \mathcal{L}_G = \mathcal{L}_{\text{recon}}(Z) - \frac1N \sum_i \log \sigma(D(z_i))
                        \;[+ \tfrac1N \mathrm{KL} \text{ for ARVGA}]

    :math:`\mathcal{L}_{\text{recon}}` is the GAE loss (negative sampling, or ``"dense"``, see
    :class:`~sslcore_graph.tasks.autoencoders.GraphAutoEncoder`); the two losses are
    PyG's ``ARGA.discriminator_loss`` / ``ARGA.reg_loss``. In the discriminator step
    :math:`Z` is computed without gradient, so only :math:`D` is updated; the generator
    step updates the encoder only (the trainer's generator optimiser holds every
    parameter outside :math:`D`). ``D`` is the paper's MLP
    ``latent_dim -> 64 -> 32 -> 1`` (ReLU). :meth:`embed` returns :math:`Z` (:math:`\mu`
    for ARVGA) ``[N, latent_dim]``.
    """

    domain = "graph"
    signal = "edge reconstruction + embeddings indistinguishable from a Gaussian prior"
    min_batch_size = 1

    prior_discriminator_loss = ARGA.discriminator_loss  # reads self.discriminator
    prior_regulariser = ARGA.reg_loss

    def __init__(
        self,
        encoder: nn.Module,
        latent_dim: Annotated[int, Ge(1)] = 16,
        discriminator_hidden: tuple[Annotated[int, Ge(1)], ...] = (64, 32),
        reconstruction: Reconstruction = "sampled",
    ):
        discriminator = MLP([latent_dim, *discriminator_hidden, 1], act="relu", norm=None)
        super().__init__(
            LatentGCN(encoder, latent_dim, self.variational), discriminator, schedule="alternating"
        )
        self.decoder = InnerProductDecoder()
        self.reconstruction = check_reconstruction(reconstruction)

    def discriminator_loss(self, batch: Data) -> TaskOutput:
        with torch.no_grad():
            z, _ = self.encode(batch)
        loss = self.prior_discriminator_loss(z)
        return TaskOutput(loss)

    def generator_loss(self, batch: Data) -> TaskOutput:
        z, kl = self.encode(batch)
        recon = self.reconstruction_loss(z, batch.edge_index)
        regulariser = self.prior_regulariser(z)
        metrics = {"recon": recon.detach(), "prior": regulariser.detach(), "kl": kl.detach()}
        return TaskOutput(recon + regulariser + kl, metrics)


class AdversarialVariationalGraphAutoEncoder(AdversarialGraphAutoEncoder):
    r"""ARVGA: :class:`AdversarialGraphAutoEncoder` with the VGAE encoder (Gaussian
    :math:`q(z_i \mid X, A)`, reparametrised samples, KL term weighted :math:`1/N`);
    the discriminator sees the samples :math:`z_i`, :meth:`embed` returns :math:`\mu`."""

    signal = "variational edge reconstruction + embeddings indistinguishable from a Gaussian prior"
    variational = True
