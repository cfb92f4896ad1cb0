"""Graph auto-encoders (Kipf & Welling 2016, "Variational Graph Auto-Encoders"): GAE and VGAE.

The losses are PyG's: ``torch_geometric.nn.GAE.recon_loss`` (inner-product decoder,
negative sampling), ``VGAE.reparametrize`` and ``VGAE.kl_loss`` are methods of
:class:`AutoEncoding`, shared with ARGA / ARVGA (they only read ``self.decoder`` /
``self.training``), so a task is one module tree with one copy of every weight.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import torch.nn.functional as F
from annotated_types import Ge
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GAE, VGAE, GCNConv, InnerProductDecoder
from torch_geometric.nn.models.autoencoder import MAX_LOGSTD
from torch_geometric.utils import to_dense_adj

from sslcore.paradigms import GenerativeTask, TaskOutput
from sslcore_graph.encoders.gcn import sparse_adjacency
from sslcore_graph.tasks.node_views import FullGraphTask


class LatentGCN(nn.Module):
    r"""``body`` (any node encoder, ``[N, h]``) followed by linear ``GCNConv`` head(s) to the
    latent space, the second layer of Kipf & Welling's encoder:

    .. math::
        \mu = \hat A\, f(X, A)\, W_\mu, \qquad \log\sigma = \hat A\, f(X, A)\, W_\sigma
        \quad (\hat A = \hat D^{-1/2}(A + I)\hat D^{-1/2})

    ``forward`` returns :math:`\mu` ``[N, latent_dim]`` (the node embedding);
    :meth:`distribution` returns ``(mu, logstd)`` (``logstd`` is ``None`` unless
    ``variational``). With the ``gcn`` body (``--encoder-opt output_dim=32``) and
    ``latent_dim=16`` this is the paper's 32-16 encoder (PReLU instead of ReLU).
    """

    def __init__(self, body: nn.Module, latent_dim: Annotated[int, Ge(1)] = 16, variational: bool = False):
        super().__init__()
        self.body = body
        self.mu = GCNConv(body.output_dim, latent_dim)
        self.logstd = GCNConv(body.output_dim, latent_dim) if variational else None
        self.output_dim = latent_dim

    def distribution(self, data: Data) -> tuple[Tensor, Tensor | None]:
        h, adj_t = self.body(data), sparse_adjacency(data)
        return self.mu(h, adj_t), (self.logstd(h, adj_t) if self.logstd is not None else None)

    def forward(self, data: Data) -> Tensor:
        return self.distribution(data)[0]


Reconstruction = Literal["sampled", "dense"]
RECONSTRUCTIONS = get_args(Reconstruction)


def check_reconstruction(reconstruction: str) -> str:
    if reconstruction not in RECONSTRUCTIONS:
        raise ValueError(f"reconstruction must be one of {RECONSTRUCTIONS}, got {reconstruction!r}")
    return reconstruction


class AutoEncoding(FullGraphTask):
    """What GAE, VGAE, ARGA and ARVGA share: full-graph batches, a :class:`LatentGCN`
    encoder, an inner-product decoder and PyG's reconstruction / KL losses. Mixed into a
    :class:`~sslcore.paradigms.PretextTask` (listed first)."""

    variational: bool = False
    reconstruction: str = "sampled"
    encoder: LatentGCN
    decoder: InnerProductDecoder

    recon_loss = GAE.recon_loss  # reads self.decoder
    reparametrize = VGAE.reparametrize  # reads self.training
    kl_loss = VGAE.kl_loss

    def reconstruction_loss(self, z: Tensor, edge_index: Tensor) -> Tensor:
        r"""Edge reconstruction loss of latent codes ``z`` ``[N, d]`` for the graph's edges.

        ``reconstruction = "sampled"`` (default): PyG's ``GAE.recon_loss``, the positive
        edges against as many non-edges drawn by ``negative_sampling`` (O(E) per step).
        ``"dense"``: the paper's weighted BCE over all :math:`N^2` pairs,
        :math:`\frac{N^2}{2(N^2 - P)} \mathrm{BCE}(ZZ^\top, A + I;\ w_+ = \frac{N^2 - P}{P})`
        with :math:`P` the positives of :math:`A + I` (O(N^2) memory: graphs up to ~20k nodes).
        """
        if self.reconstruction == "sampled":
            return self.recon_loss(z, edge_index)
        n = z.shape[0]
        target = to_dense_adj(edge_index, max_num_nodes=n)[0].clamp(max=1.0)
        target.fill_diagonal_(1.0)
        positives = target.sum()
        negatives = n * n - positives
        logits = z @ z.t()
        weight = negatives / positives
        return n * n / (2 * negatives) * F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight)

    def encode(self, data: Data) -> tuple[Tensor, Tensor]:
        """``(z, kl)``: latent codes ``[N, latent_dim]`` (sampled in training when
        ``variational``) and the KL term weighted ``1/N`` (0 unless ``variational``)."""
        if data.edge_index.shape[1] == 0:
            raise ValueError(f"{self.label}: the training graph has no edges to reconstruct")
        if not self.variational:
            return self.encoder(data), data.x.new_zeros(())
        mu, logstd = self.encoder.distribution(data)
        logstd = logstd.clamp(max=MAX_LOGSTD)
        return self.reparametrize(mu, logstd), self.kl_loss(mu, logstd) / data.num_nodes


class GraphAutoEncoder(AutoEncoding, GenerativeTask):
    r"""Graph auto-encoder (GAE): reconstruct the edges from node embeddings.

    With :math:`Z = \mathrm{GCN}(X, A)` ``[N, latent_dim]`` (:class:`LatentGCN`) and the
    inner-product decoder :math:`p(A_{ij} = 1) = \sigma(z_i^\top z_j)`:

    .. math::
        \mathcal{L} = -\frac{1}{|E|} \sum_{(i,j) \in E} \log \sigma(z_i^\top z_j)
                      -\frac{1}{|E^-|} \sum_{(i,j) \in E^-} \log\big(1 - \sigma(z_i^\top z_j)\big)

    :math:`E` the training graph's edges, :math:`E^-` as many non-edges drawn by
    ``torch_geometric.utils.negative_sampling`` every step; ``reconstruction="dense"`` uses
    the paper's re-weighted BCE over the full adjacency instead
    (:meth:`~AutoEncoding.reconstruction_loss`). To hold out edges for the ``link`` protocol, build the
    dataset with ``link_split=true``: the task then only ever sees the training edges.
    :meth:`embed` returns :math:`Z` ``[N, latent_dim]``.
    """

    domain = "graph"
    signal = "edge reconstruction"
    min_batch_size = 1

    def __init__(
        self,
        encoder: nn.Module,
        latent_dim: Annotated[int, Ge(1)] = 16,
        reconstruction: Reconstruction = "sampled",
    ):
        super().__init__(LatentGCN(encoder, latent_dim, self.variational), InnerProductDecoder())
        self.reconstruction = check_reconstruction(reconstruction)

    def forward(self, batch: Data) -> TaskOutput:
        z, kl = self.encode(batch)
        recon = self.reconstruction_loss(z, batch.edge_index)
        return TaskOutput(recon + kl, {"recon": recon.detach(), "kl": kl.detach()})


class VariationalGraphAutoEncoder(GraphAutoEncoder):
    r"""Variational graph auto-encoder (VGAE): :math:`q(z_i \mid X, A) =
    \mathcal N(\mu_i, \mathrm{diag}\,\sigma_i^2)` from two GCN heads, sampled by
    reparametrisation in training, and

    .. math::
        \mathcal{L} = \mathcal{L}_{\text{recon}}(Z)
            + \frac{1}{N}\, \frac{1}{N}\sum_i \mathrm{KL}\big(q(z_i) \,\|\, \mathcal N(0, I)\big)

    (the KL term weighted :math:`1/N` as in the paper and PyG's example). :meth:`embed`
    returns :math:`\mu` ``[N, latent_dim]``.
    """

    signal = "edge reconstruction (variational)"
    variational = True
