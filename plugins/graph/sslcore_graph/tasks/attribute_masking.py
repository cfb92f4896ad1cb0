"""Node-level attribute masking (Hu et al. 2020, "Strategies for Pre-training Graph
Neural Networks", ICLR)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

import torch
import torch.nn.functional as F
from annotated_types import Interval
from torch import Tensor, nn
from torch_geometric.data import Data

from sslcore.data import info_get
from sslcore.paradigms import GenerativeTask, TaskOutput
from sslcore_graph.tasks.node_views import FullGraphTask

Loss = Literal["auto", "bce", "mse"]
LOSSES = get_args(Loss)


def feature_loss_kind(x: Tensor) -> str:
    """``"bce"`` for binary features (every value 0 or 1, e.g. raw bag-of-words presence),
    ``"mse"`` otherwise (real-valued or row-normalised features)."""
    return "bce" if bool(((x == 0) | (x == 1)).all()) else "mse"


class AttributeMasking(FullGraphTask, GenerativeTask):
    r"""Mask the features of a random ``mask_rate`` fraction of the nodes and predict them
    from the graph context with a linear decoder on the node embeddings:

    .. math::
        \tilde x_i = \begin{cases} m & i \in \mathcal M \\ x_i & \text{otherwise}\end{cases},
        \qquad H = f(\tilde X, A), \qquad
        \mathcal{L} = \frac{1}{|\mathcal M|} \sum_{i \in \mathcal M} \ell(W h_i + b,\ x_i)

    :math:`\mathcal M` holds ``round(mask_rate * N)`` nodes (at least one), drawn in
    :meth:`collate`; :math:`m` ``[num_features]`` is a learned mask token initialised at
    zeros (Hu et al. use a dedicated "masked" category of the atom type). The loss
    :math:`\ell` (averaged over features) is per-feature binary cross-entropy for binary
    features (multi-hot bag-of-words: the cross-entropy of each word's presence, Hu et
    al.'s categorical cross-entropy for multi-label features) and mean squared error
    otherwise; ``loss="auto"`` picks by the data (:func:`feature_loss_kind`). Cora's raw
    features are binary, but the ``cora`` dataset row-normalises them by default, so
    ``auto`` gives MSE there; build it with ``normalize_features=false`` for BCE.
    Only masked nodes enter the loss. :meth:`embed` encodes the unmasked graph.
    """

    domain = "graph"
    signal = "masked node attribute prediction"
    min_batch_size = 1
    label = "attribute masking"

    def __init__(
        self,
        encoder: nn.Module,
        num_features: int,
        mask_rate: Annotated[float, Interval(gt=0, lt=1)] = 0.15,
        loss: Loss = "auto",
    ):
        if not 0 < mask_rate < 1:
            raise ValueError(f"mask_rate must be in (0, 1), got {mask_rate}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        super().__init__(encoder, nn.Linear(encoder.output_dim, num_features))
        self.mask_token = nn.Parameter(torch.zeros(num_features))
        self.mask_rate, self.loss_kind = mask_rate, loss

    @classmethod
    def from_data(cls, encoder: nn.Module, info: Mapping[str, Any], **options: Any) -> AttributeMasking:
        num_features = info_get(info, "num_features", " (attribute masking needs a graph with node features)")
        return cls(encoder, int(num_features), **options)

    def draw_mask(self, num_nodes: int, generator: torch.Generator | None = None) -> Tensor:
        """Boolean ``[num_nodes]`` with exactly ``max(1, round(mask_rate * num_nodes))`` set."""
        count = max(1, round(self.mask_rate * num_nodes))
        masked = torch.zeros(num_nodes, dtype=torch.bool)
        masked[torch.randperm(num_nodes, generator=generator)[:count]] = True
        return masked

    def collate(self, samples: list[Data]) -> tuple[Data, Tensor]:
        """``[graph] -> (graph, masked)``: one full graph per step (the checks of
        :meth:`FullGraphTask.collate`) and its masked nodes."""
        graph = super().collate(samples)
        return graph, self.draw_mask(graph.num_nodes)

    def forward(self, batch: tuple[Data, Tensor]) -> TaskOutput:
        graph, masked = batch
        masked = masked.to(graph.x.device)
        corrupted = graph.clone()
        corrupted.x = torch.where(masked[:, None], self.mask_token.to(graph.x.dtype), graph.x)
        h = self.encoder(corrupted)
        prediction, target = self.decoder(h[masked]), graph.x[masked]
        kind = feature_loss_kind(graph.x) if self.loss_kind == "auto" else self.loss_kind
        loss_fn = F.binary_cross_entropy_with_logits if kind == "bce" else F.mse_loss
        loss = loss_fn(prediction, target)
        return TaskOutput(loss, {kind: loss.detach(), "masked": masked.float().mean()})
