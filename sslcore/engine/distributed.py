"""The trainer's side of ``torch.distributed`` (``docs/distributed.md``): join the process group
``torchrun`` describes (gloo on CPU, nccl on CUDA; a group the user created is used as is),
wrap the task in DDP, and agree on per-step facts."""

from __future__ import annotations

import gc
import os
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from sslcore.engine.device import resolve_device
from sslcore.errors import ConfigError


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Processes in the job (1 without a process group)."""
    return dist.get_world_size() if is_initialized() else 1


def rank() -> int:
    """This process's global rank (0 without a process group)."""
    return dist.get_rank() if is_initialized() else 0


def is_main() -> bool:
    """Whether this process writes logs, checkpoints and run files (rank 0)."""
    return rank() == 0


def env_rank() -> int:
    """``RANK`` set by ``torchrun`` (0 when not launched by it)."""
    return int(os.environ.get("RANK", "0"))


def elastic_restart_count() -> int:
    """How many times ``torchrun --max-restarts`` has restarted this job (0: first attempt)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))


def init_from_env(device: str = "auto") -> bool:
    """Join the process group described by torchrun's environment variables, if any; True when
    this call created it (the caller then calls :func:`destroy`)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if is_initialized() or size <= 1:
        return False
    missing = [v for v in ("RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise ConfigError(
            f"WORLD_SIZE={size} but {', '.join(missing)} not set: launch with "
            "`torchrun --nproc-per-node N -m sslcore pretrain ...`"
        )
    target = resolve_device(device)
    backend = "nccl" if target.type == "cuda" else "gloo"
    if target.type == "cuda":
        torch.cuda.set_device(target)
    store, rank_, size = next(dist.rendezvous("env://"))
    attempt = elastic_restart_count()
    if attempt:
        # the launcher's store outlives a restart: keep this attempt's keys apart from the
        # previous attempt's (which name the dead workers' addresses)
        store = dist.PrefixStore(f"sslcore/attempt_{attempt}", store)
    dist.init_process_group(backend=backend, store=store, rank=rank_, world_size=size)
    return True


def destroy() -> None:
    """Destroy the process group, after collecting garbage: a DDP wrapper left in a reference
    cycle keeps the group alive past ``destroy_process_group``, to be torn down at interpreter
    exit, where gloo's threads can abort the process (SIGABRT) after a finished run."""
    if is_initialized():
        gc.collect()
        dist.destroy_process_group()


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum of ``values`` over ranks (float64; NaN and inf propagate)."""
    if world_size() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (between our own processes only)."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_to_main(obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` on rank 0 (in rank order), None elsewhere."""
    if world_size() == 1:
        return [obj]
    out: list[Any] | None = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def check_sync_batchnorm(device: torch.device) -> None:
    """SyncBatchNorm synchronises only on accelerators (PyTorch's restriction)."""
    if world_size() > 1 and device.type == "cpu":
        raise ConfigError(
            "sync_batchnorm needs CUDA (torch.nn.SyncBatchNorm does not run on CPU); "
            "train on GPUs or set sync_batchnorm=False"
        )


def convert_sync_batchnorm(task: nn.Module) -> nn.Module:
    """Replace every BatchNorm inside ``task`` (in place) by :class:`torch.nn.SyncBatchNorm`,
    sharing the parameters and buffers."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(task)


class TaskStep(nn.Module):
    """What DDP wraps: ``forward(batch, method)`` calls ``task.<method>(batch)`` and returns
    ``(loss, metrics)``, so the alternating adversarial schedule's two losses also go
    through DDP's forward (which prepares the gradient all-reduce)."""

    def __init__(self, task: nn.Module):
        super().__init__()
        self.task = task

    def forward(self, batch: Any, method: str = "forward") -> tuple[Tensor, dict[str, Any]]:
        out = self.task(batch) if method == "forward" else getattr(self.task, method)(batch)
        return out.loss, out.metrics


def wrap_ddp(task: nn.Module, device: torch.device, find_unused_parameters: bool) -> DistributedDataParallel:
    """``task`` in :class:`~torch.nn.parallel.DistributedDataParallel` (parameters are
    broadcast from rank 0 here; gradients are averaged over ranks in ``backward``)."""
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(
        TaskStep(task), device_ids=ids, find_unused_parameters=find_unused_parameters
    )
