"""A fixed-size FIFO queue of negative keys (MoCo, He et al. 2020)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sslcore.contrast._checks import compute_dtype
from sslcore.contrast.distributed import gather_rows, world_size


class NegativeQueue(nn.Module):
    r"""Fixed-size first-in-first-out queue of L2-normalised keys, ``[size, dim]``.

    The keys, the write position and the fill count are buffers, so the queue is in
    the module's ``state_dict``, moves with ``.to(device)`` and is restored from
    checkpoints. Pushing ``n`` keys overwrites the ``n`` oldest once the queue is full;
    a push larger than ``size`` keeps its last ``size`` keys.

    Use it with :func:`sslcore.contrast.info_nce` as the shared negatives
    ``[K, d]``; push from the task's per-step callback, not from ``forward``::

        loss = info_nce(q, k, queue.negatives(), temperature=0.2)
        ...
        queue.push(k)            # under torch.distributed: every rank's keys, gathered

    Args:
        size: capacity :math:`K \ge 1`.
        dim: key dimension :math:`d \ge 1`.
        normalize: L2-normalise keys on push (default ``True``, MoCo's keys are unit vectors).
        dtype: storage dtype of the keys buffer.
    """

    keys: Tensor
    ptr: Tensor
    count: Tensor

    def __init__(
        self, size: int, dim: int, normalize: bool = True, dtype: torch.dtype = torch.float32
    ) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"NegativeQueue: size and dim must be >= 1, got size={size}, dim={dim}")
        self.size, self.dim, self.normalize = int(size), int(dim), normalize
        self.register_buffer("keys", torch.zeros(self.size, self.dim, dtype=dtype))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))  # next row to write
        self.register_buffer("count", torch.zeros((), dtype=torch.long))  # rows filled
        # host copies of ptr / count: reading the buffers would sync a GPU every step
        self._ptr = self._count = 0
        self.register_load_state_dict_post_hook(NegativeQueue._read_counters)

    @staticmethod
    def _read_counters(module: nn.Module, incompatible_keys: object) -> None:
        module._ptr, module._count = int(module.ptr), int(module.count)

    @torch.no_grad()
    def push(self, keys: Tensor, distributed: bool | None = None) -> None:
        """Append ``keys`` ``[n, dim]`` (detached, normalised, cast to the storage dtype),
        dropping the oldest entries when full. ``n = 0`` is a no-op.

        ``distributed``: ``None`` (default) pushes every rank's keys, gathered in rank
        order, whenever torch.distributed runs more than one process (as MoCo's
        ``concat_all_gather``), so every rank's queue holds the same global keys; every
        rank must then call ``push`` at the same step. ``False``: this rank's keys only."""
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(
                f"NegativeQueue.push: keys must be [n, {self.dim}], got shape {tuple(keys.shape)}"
            )
        if keys.device != self.keys.device:
            raise ValueError(
                f"NegativeQueue.push: keys are on {keys.device} but the queue is on {self.keys.device}"
            )
        new = keys.detach()
        if distributed is not False and world_size() > 1:
            new = gather_rows(new)[0]
        n = new.shape[0]
        if n == 0:
            return
        if self.normalize:
            new = F.normalize(new.to(compute_dtype(new)), dim=1)
        kept = min(n, self.size)
        rows = (self._ptr + n - kept + torch.arange(kept, device=self.keys.device)) % self.size
        self.keys.index_copy_(0, rows, new[n - kept :].to(self.keys.dtype))
        self._ptr, self._count = (self._ptr + n) % self.size, min(self._count + n, self.size)
        self.ptr.fill_(self._ptr)
        self.count.fill_(self._count)

    def negatives(self) -> Tensor:
        """The stored keys ``[count, dim]``, oldest first (a copy: later pushes do not
        change it, so it can be used in a loss whose backward runs after the next push)."""
        count, ptr = self._count, self._ptr
        if count < self.size:
            return self.keys[:count].clone()
        return torch.cat([self.keys[ptr:], self.keys[:ptr]])

    @property
    def is_full(self) -> bool:
        return self._count == self.size

    @property
    def filled(self) -> int:
        """Number of stored keys (``len`` is not defined, so an empty queue stays truthy)."""
        return self._count

    def reset(self) -> None:
        """Empty the queue."""
        self.keys.zero_()
        self.ptr.zero_()
        self.count.zero_()
        self._ptr = self._count = 0

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}, filled={self._count}, normalize={self.normalize}"
