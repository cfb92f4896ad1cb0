"""GraphMAE (Hou et al. 2022, "GraphMAE: Self-Supervised Masked Graph Autoencoders", KDD)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NamedTuple, get_args

import torch
from annotated_types import Ge, Interval
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv

from sslcore.contrast import scaled_cosine_error
from sslcore.data import info_get
from sslcore.paradigms import GenerativeTask, TaskOutput
from sslcore_graph.encoders.gat import GATInit, GATLayer
from sslcore_graph.tasks.node_views import FullGraphTask, seed_nodes

Decoder = Literal["gat", "gcn"]
DECODERS = get_args(Decoder)


class NodeMask(NamedTuple):
    """The nodes one GraphMAE step masks, drawn by :meth:`GraphMAE.draw_mask` (node ids of
    the step's graph, each ``[count]`` long): ``masked`` = ``token`` ∪ ``replaced`` ∪
    ``kept`` (disjoint); ``sources[i]`` is the node whose features ``replaced[i]`` gets."""

    masked: Tensor
    token: Tensor
    replaced: Tensor
    sources: Tensor
    kept: Tensor


class MaskedGraph(NamedTuple):
    """A collated GraphMAE batch: the step's graph and its :class:`NodeMask`."""

    graph: Data
    mask: NodeMask


class GraphMAE(FullGraphTask, GenerativeTask):
    r"""Masked feature reconstruction with re-masking and the scaled cosine error.

    A random ``mask_rate`` fraction :math:`\mathcal M` of the nodes is masked; of those, a
    ``replace_rate`` fraction :math:`\mathcal R` gets the features of random nodes, a
    ``keep_rate`` fraction keeps its own (BERT's "unchanged"; 0 in GraphMAE) and the rest
    :math:`\mathcal T` gets the learned token :math:`m` ``[num_features]`` (zeros at first):

    .. math::
        \tilde x_i = \begin{cases} m & i \in \mathcal T \\ x_{\pi(i)} & i \in \mathcal R \\
            x_i & \text{otherwise} \end{cases}, \qquad
        H = f(\tilde X, A), \qquad
        \tilde h_i = \begin{cases} 0 & i \in \mathcal M \\ W h_i & \text{otherwise}\end{cases},
        \qquad Z = g(\tilde H, A)

    .. math::
        \mathcal{L} = \frac{1}{|\mathcal M|} \sum_{i \in \mathcal M}
            \Big(1 - \frac{z_i^\top x_i}{\lVert z_i\rVert \lVert x_i\rVert}\Big)^{\gamma}

    :math:`W` ``[d, d]`` (no bias) maps the encoder output to the decoder input, the masked
    rows of which are set to zero again ("re-mask") so the decoder :math:`g`, one GNN layer
    (``decoder="gat"``: a single-head GAT layer as the paper, initialised by ``decoder_init``
    as the ``gat`` encoder's ``init``; or ``"gcn"``), must rebuild
    them from their neighbours; :math:`\gamma` = ``gamma`` (the paper's ``alpha_l``; loss
    :func:`sslcore.contrast.scaled_cosine_error`). Only masked nodes enter the loss.

    Counts: ``round(mask_rate * n)`` masked nodes (at least one), ``round(replace_rate *
    |M|)`` replaced, ``round(keep_rate * |M|)`` kept, the rest get the token; the random
    sources are distinct nodes of the graph (any of them, as the reference code). One
    batch is the full graph (``n = num_nodes``) or, with the dataset option ``batch_nodes``,
    a sampled subgraph: then only its seed nodes are masked and scored
    (:func:`~sslcore_graph.tasks.node_views.seed_nodes`; the other nodes are the seeds'
    unmasked context). :meth:`embed` encodes the unmasked graph: ``[num_nodes, d]``.

    Shapes: ``x`` ``[N, F]``; ``H`` ``[N, d]`` (``d = encoder.output_dim``); ``Z`` ``[N, F]``.
    """

    minibatch = True  # the loss covers the seed nodes of a sampled subgraph

    domain = "graph"
    signal = "masked node feature reconstruction (scaled cosine error)"
    min_batch_size = 1
    label = "GraphMAE"

    def __init__(
        self,
        encoder: nn.Module,
        num_features: int,
        mask_rate: Annotated[float, Interval(gt=0, lt=1)] = 0.5,
        replace_rate: Annotated[float, Interval(ge=0, lt=1)] = 0.05,
        keep_rate: Annotated[float, Interval(ge=0, lt=1)] = 0.0,
        gamma: Annotated[float, Ge(1)] = 3.0,
        decoder: Decoder = "gat",
        decoder_input_dropout: Annotated[float, Interval(ge=0, lt=1)] = 0.2,
        decoder_attention_dropout: Annotated[float, Interval(ge=0, le=1)] = 0.1,
        decoder_init: GATInit = "glorot",
    ):
        if not 0 < mask_rate < 1:
            raise ValueError(f"GraphMAE: mask_rate must be in (0, 1), got {mask_rate}")
        if not (0 <= replace_rate < 1 and 0 <= keep_rate < 1 and replace_rate + keep_rate < 1):
            raise ValueError(
                f"GraphMAE: replace_rate ({replace_rate}) and keep_rate ({keep_rate}) must be in [0, 1) "
                "and leave some masked nodes for the mask token (replace_rate + keep_rate < 1)"
            )
        if not gamma >= 1:
            raise ValueError(f"GraphMAE: gamma must be >= 1, got {gamma}")
        if decoder not in DECODERS:
            raise ValueError(f"GraphMAE: decoder must be one of {DECODERS}, got {decoder!r}")
        if not 0 <= decoder_input_dropout < 1:
            raise ValueError(
                f"GraphMAE: decoder_input_dropout must be in [0, 1), got {decoder_input_dropout}"
            )
        dim = encoder.output_dim
        if decoder == "gat":
            conv: nn.Module = GATLayer(
                dim,
                num_features,
                heads=1,
                dropout=decoder_attention_dropout,
                input_dropout=decoder_input_dropout,
                init=decoder_init,
            )
        else:
            conv = GCNConv(dim, num_features)
        super().__init__(encoder, conv)
        self.encoder_to_decoder = nn.Linear(dim, dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(num_features))
        self.mask_rate, self.gamma = mask_rate, gamma
        self.replace_rate, self.keep_rate = replace_rate, keep_rate

    @classmethod
    def from_data(cls, encoder: nn.Module, info: Mapping[str, Any], **options: Any) -> GraphMAE:
        num_features = info_get(info, "num_features", " (GraphMAE reconstructs node features)")
        return cls(encoder, int(num_features), **options)

    def draw_mask(
        self, num_nodes: int, num_seeds: int | None = None, generator: torch.Generator | None = None
    ) -> NodeMask:
        """Draw the masked nodes among the first ``num_seeds`` nodes (default: all
        ``num_nodes``) and split them; random sources among all ``num_nodes``. CPU tensors."""
        seeds = num_nodes if num_seeds is None else num_seeds
        count = max(1, round(self.mask_rate * seeds))
        masked = torch.randperm(seeds, generator=generator)[:count]
        order = masked[torch.randperm(count, generator=generator)]
        n_replaced, n_kept = round(self.replace_rate * count), round(self.keep_rate * count)
        n_replaced = min(n_replaced, num_nodes)
        replaced, rest = order[:n_replaced], order[n_replaced:]
        kept, token = rest[:n_kept], rest[n_kept:]
        sources = torch.randperm(num_nodes, generator=generator)[:n_replaced]
        return NodeMask(masked, token, replaced, sources, kept)

    def collate(self, samples: list[Data]) -> MaskedGraph:
        """``[graph] -> (graph, mask)``: one graph per step (the checks of
        :meth:`FullGraphTask.collate`) and its :class:`NodeMask` (seed nodes only)."""
        graph = super().collate(samples)
        seeds = range(graph.num_nodes)[seed_nodes(graph)]
        return MaskedGraph(graph, self.draw_mask(graph.num_nodes, len(seeds)))

    def corrupt(self, x: Tensor, mask: NodeMask) -> Tensor:
        r""":math:`\tilde X` ``[N, F]``: the token on ``mask.token``, the sources' features on
        ``mask.replaced``, ``x`` elsewhere (``x`` itself is left unchanged)."""
        token = self.mask_token.to(x.dtype).expand(len(mask.token), -1)
        out = x.index_copy(0, mask.token, token)
        return out.index_copy(0, mask.replaced, x[mask.sources])

    def reconstruct(self, graph: Data, h: Tensor, masked: Tensor) -> Tensor:
        r""":math:`Z = g(\tilde H, A)` ``[N, F]`` from encoder output ``h`` ``[N, d]``, with
        the rows ``masked`` of :math:`W h` re-masked to zero."""
        rep = self.encoder_to_decoder(h).index_fill(0, masked, 0.0)
        return self.decoder(rep, graph.edge_index)

    def forward(self, batch: MaskedGraph) -> TaskOutput:
        graph, mask = batch
        corrupted = copy.copy(graph)
        corrupted.x = self.corrupt(graph.x, mask)
        h = self.encoder(corrupted)
        z = self.reconstruct(graph, h, mask.masked)
        loss = scaled_cosine_error(z[mask.masked], graph.x[mask.masked], self.gamma)
        masked_share = torch.full((), len(mask.masked) / graph.num_nodes, device=loss.device)
        return TaskOutput(loss, {"sce": loss.detach(), "masked": masked_share})
