"""SCARF (Bahri et al. 2022): contrastive learning with random feature corruption."""

from collections.abc import Mapping
from typing import Annotated, Any

import torch
from annotated_types import Ge, Gt, Interval
from torch import Tensor, nn

from sslcore import ContrastiveTask, TaskOutput, info_nce


class SCARF(ContrastiveTask):
    r"""Contrast each row with a corrupted copy of itself.

    A random ``corruption_rate`` fraction of each row's features is replaced by values of
    the same feature drawn from other rows (the empirical marginals):
    :math:`\tilde x_j = x_j` if :math:`m_j = 0` else :math:`x^{(r)}_j`, and
    :math:`\mathcal L = \mathrm{InfoNCE}(g(f(x)), g(f(\tilde x)))` with in-batch negatives.

    Batch: ``(rows, corrupted)``, both ``[B, num_features]``.
    """

    domain = "tabular"
    signal = "instance identity under random feature corruption"
    family = "instance-instance"
    negatives = "end-to-end"

    def __init__(
        self,
        encoder: nn.Module,
        marginals: Tensor,
        corruption_rate: Annotated[float, Interval(gt=0, lt=1)] = 0.6,
        proj_dim: Annotated[int, Ge(1)] = 64,
        temperature: Annotated[float, Gt(0)] = 1.0,
    ):
        d = encoder.output_dim
        super().__init__(encoder, nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, proj_dim)))
        if not 0 < corruption_rate < 1:
            raise ValueError(f"corruption_rate must be in (0, 1), got {corruption_rate}")
        # the empirical marginals are data that only collate reads: collate runs on the CPU in
        # DataLoader workers, so they stay a host array (a buffer would follow the task to the GPU)
        self.marginals = marginals.detach().cpu().numpy().copy()
        self.corruption_rate, self.temperature = corruption_rate, temperature

    @classmethod
    def from_data(cls, encoder: nn.Module, info: Mapping[str, Any], **options: Any) -> "SCARF":
        return cls(encoder, info["marginals"], **options)

    def collate(self, samples: list[Tensor]) -> tuple[Tensor, Tensor]:
        rows = torch.stack(samples)
        donors = torch.randint(len(self.marginals), rows.shape)
        resampled = torch.from_numpy(self.marginals)[donors, torch.arange(rows.shape[1])]
        mask = torch.rand(rows.shape) < self.corruption_rate
        return rows, torch.where(mask, resampled, rows)

    def forward(self, batch: tuple[Tensor, Tensor]) -> TaskOutput:
        rows, corrupted = batch
        z, z_tilde = self.head(self.encoder(rows)), self.head(self.encoder(corrupted))
        return TaskOutput(info_nce(z, z_tilde, temperature=self.temperature))
