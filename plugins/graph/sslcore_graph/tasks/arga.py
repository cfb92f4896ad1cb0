"""Adversarially regularized graph auto-encoders (Pan et al. 2018, "Adversarially
Regularized Graph Autoencoder for Graph Embedding", IJCAI): ARGA and ARVGA."""

from __future__ import annotations

from collections.abc import Iterator
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
    parameter outside :math:`D`). ``D`` is the reference code's MLP
    ``latent_dim -> 64 -> 32 -> 1`` (ReLU). :meth:`embed` returns :math:`Z` (:math:`\mu`
    for ARVGA) ``[N, latent_dim]``.

    ``reconstruction_steps`` :math:`k` (default 0: every step is a discriminator step and
    a generator step, the paper's Algorithm 1) is the reference code's schedule: each of
    its epochs makes :math:`k` reconstruction-only updates of the encoder
    (:math:`\mathcal{L}_{\text{recon}}` [+ KL], no adversarial term), then one
    discriminator and one generator update. Trainer step :math:`t` (counted from 0, kept in
    checkpoints) is such an adversarial step when :math:`t \bmod (k + 1) = k`; in the
    other steps :meth:`discriminator_loss` is a zero that reaches no discriminator
    parameter (so its optimiser leaves :math:`D` alone) and :meth:`generator_loss` has no
    prior term. A reference epoch is thus :math:`k + 1` trainer steps.

    ``separate_reconstruction`` (needs :math:`k \ge 1`) is the reference code's optimisers
    as well: the reconstruction-only updates get an optimiser of their own (the trainer's
    ``autoencoder`` player, :attr:`~sslcore.paradigms.AdversarialTask.players`) and the
    generator update minimises the prior term alone, so Adam keeps separate moments for the
    two kinds of encoder update. Each trainer step then runs the autoencoder, the
    discriminator and the generator updates, two of them idle by the schedule (a zero loss
    that reaches none of the player's parameters, so its optimiser leaves them alone).

    Options: ``reconstruction_steps``: reconstruction-only steps before each adversarial
    step (0: every step is adversarial; the reference code: 5); ``separate_reconstruction``:
    the reference code's separate optimisers (default False).
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
        reconstruction_steps: Annotated[int, Ge(0)] = 0,
        separate_reconstruction: bool = False,
    ):
        if separate_reconstruction and reconstruction_steps < 1:
            raise ValueError(
                "separate_reconstruction=True gives the reconstruction-only steps an optimiser of "
                f"their own, but reconstruction_steps={reconstruction_steps} makes none: set "
                "reconstruction_steps to at least 1 (the reference code: 5)"
            )
        discriminator = MLP([latent_dim, *discriminator_hidden, 1], act="relu", norm=None)
        super().__init__(
            LatentGCN(encoder, latent_dim, self.variational), discriminator, schedule="alternating"
        )
        self.decoder = InnerProductDecoder()
        self.reconstruction = check_reconstruction(reconstruction)
        self.reconstruction_steps = reconstruction_steps
        self.separate_reconstruction = separate_reconstruction
        if separate_reconstruction:
            self.players = ("autoencoder", "discriminator", "generator")
        #: trainer steps taken: a Python int (reading a device tensor each step would wait for
        #: the GPU), saved in checkpoints as the module's extra state so a resumed run keeps its phase
        self.steps_taken = 0

    @property
    def adversarial_step(self) -> bool:
        """Whether the current step updates :math:`D` and adds the prior term (always when
        ``reconstruction_steps`` is 0)."""
        k = self.reconstruction_steps
        return self.steps_taken % (k + 1) == k

    def discriminator_loss(self, batch: Data) -> TaskOutput:
        if not self.adversarial_step:  # a reconstruction-only step: D keeps its weights
            return self._idle(self.generator_parameters())
        with torch.no_grad():
            z, _ = self.encode(batch)
        loss = self.prior_discriminator_loss(z)
        return TaskOutput(loss)

    def _idle(self, parameters: Iterator[nn.Parameter]) -> TaskOutput:
        """A zero loss built from one of ``parameters``: the optimiser of a player holding
        none of them gets no gradient and leaves its parameters and moments alone."""
        return TaskOutput(next(parameters).sum() * 0.0)

    def autoencoder_parameters(self) -> Iterator[nn.Parameter]:
        return self.generator_parameters()

    def autoencoder_loss(self, batch: Data) -> TaskOutput:
        """``separate_reconstruction``: the reconstruction [+ KL] update of a
        reconstruction-only step; idle in the adversarial step."""
        if self.adversarial_step:
            return self._idle(self.discriminator_parameters())
        z, kl = self.encode(batch)
        recon = self.reconstruction_loss(z, batch.edge_index)
        return TaskOutput(recon + kl, {"recon": recon.detach(), "kl": kl.detach()})

    def generator_loss(self, batch: Data) -> TaskOutput:
        if self.separate_reconstruction:  # the prior term alone, in the adversarial step only
            if not self.adversarial_step:
                return self._idle(self.discriminator_parameters())
            regulariser = self.prior_regulariser(self.encode(batch)[0])
            return TaskOutput(regulariser, {"prior": regulariser.detach()})
        z, kl = self.encode(batch)
        recon = self.reconstruction_loss(z, batch.edge_index)
        regulariser = self.prior_regulariser(z) if self.adversarial_step else z.new_zeros(())
        metrics = {"recon": recon.detach(), "prior": regulariser.detach(), "kl": kl.detach()}
        return TaskOutput(recon + regulariser + kl, metrics)

    def on_train_step_end(self, progress: float) -> None:
        """Count the step (the schedule of ``reconstruction_steps``)."""
        self.steps_taken += 1

    def get_extra_state(self) -> dict[str, int]:
        return {"steps_taken": self.steps_taken}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.steps_taken = int(state["steps_taken"])


class AdversarialVariationalGraphAutoEncoder(AdversarialGraphAutoEncoder):
    r"""ARVGA: :class:`AdversarialGraphAutoEncoder` with the VGAE encoder (Gaussian
    :math:`q(z_i \mid X, A)`, reparametrised samples, KL term weighted :math:`1/N`);
    the discriminator sees the samples :math:`z_i`, :meth:`embed` returns :math:`\mu`."""

    signal = "variational edge reconstruction + embeddings indistinguishable from a Gaussian prior"
    variational = True
