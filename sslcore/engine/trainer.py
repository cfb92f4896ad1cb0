"""One training loop for every pretext task (:class:`~sslcore.engine.config.TrainConfig` lists
what it does): exact resume from atomic checkpoints (the data order is a function of ``(seed,
epoch)``, RNG states are checkpointed), a NaN guard, a clean stop on SIGTERM / SIGINT, and
DistributedDataParallel under ``torchrun`` with only rank 0 writing (``docs/distributed.md``)."""

from __future__ import annotations

import contextlib
import json
import math
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from sslcore.contrast.distributed import ddp_step
from sslcore.data import IndexedDataset
from sslcore.engine import distributed as ddp
from sslcore.engine.batch import channels_last, move_to
from sslcore.engine.checkpoint import CheckpointDir, load_checkpoint, rng_state, set_rng_state
from sslcore.engine.config import TrainConfig, budget_clock, budget_steps
from sslcore.engine.early_stopping import EarlyStopping
from sslcore.engine.lars import LARS
from sslcore.engine.observability import TensorBoardLog, check_tensorboard, peak_memory_mb
from sslcore.engine.precision import Precision
from sslcore.engine.provenance import software_versions
from sslcore.engine.sampler import ResumableRandomSampler
from sslcore.engine.schedule import warmup_cosine
from sslcore.engine.signals import StopSignals
from sslcore.engine.watch import FiniteWatch, window_mean
from sslcore.errors import CheckpointError, ConfigError, NonFiniteLossError
from sslcore.io import atomic_write_text, read_jsonl, remove_orphaned_temp_files
from sslcore.locks import FolderLock
from sslcore.paradigms import AdversarialTask, PretextTask, TaskOutput


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns. ``interrupted``: the stop signal's name (e.g.
    ``"SIGTERM"``) when training stopped on a signal, after writing a checkpoint.
    ``completed``: the budget was reached (a run that is not completed must not be
    reported as finished; early stopping completes it too). ``new_steps``: steps taken by this
    call (0 when a resumed run had already completed its budget). ``stopped_early``: why
    early stopping (``patience``) ended the run, and at which step's weights."""

    steps: int
    epochs: float
    seconds: float
    final_loss: float
    samples: int
    checkpoint: Path | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    interrupted: str | None = None
    skipped_steps: int = 0
    world_size: int = 1
    completed: bool = False
    new_steps: int = 0
    stopped_early: str | None = None


@dataclass
class _Position:
    """Where training is: the part of the state that a checkpoint restores besides weights."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed: float = 0.0
    samples: int = 0
    skipped: int = 0
    last_loss: float | Tensor = float("nan")  # the last applied step's loss


#: the :class:`_Position` fields a checkpoint stores under their own names
_SAVED_AS_IS = ("step", "epoch", "batch_in_epoch", "elapsed", "samples")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def decay_exempt(module: nn.Module) -> set[int]:
    """The ids of ``module``'s parameters a submodule declares exempt from weight decay through
    timm's convention: a ``no_weight_decay()`` method returning parameter names relative to
    that submodule (timm's ViT: ``{"pos_embed", "cls_token", "dist_token"}``). A name may
    also be a submodule's (all its parameters); names that do not exist are ignored."""
    exempt: set[int] = set()
    for _, sub in module.named_modules():
        declared = getattr(sub, "no_weight_decay", None)
        if not callable(declared):
            continue
        names = set(declared())
        for name, p in sub.named_parameters():
            if name in names or any(name.startswith(n + ".") for n in names):
                exempt.add(id(p))
    return exempt


def weight_decay_groups(
    params: nn.Module | Iterable[nn.Parameter], weight_decay: float, owner: nn.Module | None = None
) -> list[dict[str, Any]]:
    """Two parameter groups, ``[decayed, exempt]``: weight decay ``weight_decay`` on weight
    matrices, 0 on biases and norms (``p.dim() <= 1``) and on what ``owner``'s submodules
    declare in ``no_weight_decay()`` (:func:`decay_exempt`; ``owner`` defaults to ``params``
    when it is a module). Only parameters with ``requires_grad``, each once."""
    if owner is None and isinstance(params, nn.Module):
        owner = params
    exempt = decay_exempt(owner) if owner is not None else set()
    unique = {id(p): p for p in (params.parameters() if isinstance(params, nn.Module) else params)}
    trainable = [p for p in unique.values() if p.requires_grad]
    keep = [p for p in trainable if p.dim() > 1 and id(p) not in exempt]
    kept = {id(p) for p in keep}
    return [
        {"params": keep, "weight_decay": weight_decay},
        {"params": [p for p in trainable if id(p) not in kept], "weight_decay": 0.0},
    ]


def make_optimizer(
    params: nn.Module | Iterable[nn.Parameter], config: TrainConfig, owner: nn.Module | None = None
) -> torch.optim.Optimizer:
    """``config.optimizer`` over ``params`` (a module, or parameters of ``owner``) with the
    parameter groups of :func:`weight_decay_groups`: no weight decay on biases, norms and
    what a submodule's ``no_weight_decay()`` names. LARS excludes that second group from
    its trust ratio too. Adam and AdamW use torch's fused CUDA kernels when every
    parameter is on a GPU."""
    groups = weight_decay_groups(params, config.weight_decay, owner)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    if config.optimizer == "lars":
        groups[1]["lars_exclude"] = True
        return LARS(groups, lr=config.lr, momentum=config.momentum, eta=config.lars_eta)
    trainable = [p for g in groups for p in g["params"]]
    fused = {"fused": True} if trainable and all(p.is_cuda for p in trainable) else {}
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr, **fused)
    return torch.optim.AdamW(groups, lr=config.lr, **fused)


class CountingCollate:
    """``samples -> (len(samples), collate(samples))``: the trainer counts samples even
    when a task's batch has no obvious length. A class, not a closure, so that DataLoader
    workers started with ``spawn`` or ``forkserver`` can pickle it."""

    def __init__(self, collate: Callable[[Sequence[Any]], Any]):
        self.collate = collate

    def __call__(self, samples: Sequence[Any]) -> tuple[int, Any]:
        return len(samples), self.collate(samples)


class Trainer:
    """Train ``task`` under ``config``, writing logs and checkpoints to ``output_dir``.

    ``run_info``: a JSON-like description of the run (e.g. ``config.json``'s content)
    recorded in every checkpoint, beside the training config and software versions."""

    def __init__(
        self,
        task: PretextTask,
        config: TrainConfig,
        output_dir: str | Path | None = None,
        run_info: Mapping[str, Any] | None = None,
    ):
        self.task, self.config = task, config
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.device = ddp.resolve_device(config.device)
        self.precision = Precision(config.precision, self.device)
        if config.tensorboard and self.output_dir is not None:
            check_tensorboard()
        # plain JSON types only: checkpoints are read back with weights_only=True
        self.run_info = json.loads(json.dumps(dict(run_info or {}), default=str))
        self.alternating = isinstance(task, AdversarialTask) and task.schedule == "alternating"
        folder = self.output_dir / "checkpoints" if self.output_dir else None
        self.checkpoints = CheckpointDir(folder, config.keep_checkpoints) if folder else None
        self.last_checkpoint: Path | None = None
        self.rank, self.world = 0, 1
        self._model: nn.Module | None = None  # the DDP wrapper when world > 1
        self._tensorboard: TensorBoardLog | None = None
        self._watch: FiniteWatch | None = None  # set per fit: one process, nan_policy "stop"
        self._channels_last = False
        self._stopper: EarlyStopping | None = None  # set per fit when config.patience is

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- set-up ------------------------------------------------------------------------
    def _parameters(self, key: str) -> Iterable[nn.Parameter]:
        """The parameters optimiser ``key`` updates: ``model``, or an alternating schedule's
        player (``generator``, ``discriminator``, ...: :attr:`AdversarialTask.players`)."""
        return self.task.parameters() if key == "model" else getattr(self.task, f"{key}_parameters")()

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        keys = self.task.players if self.alternating else ("model",)
        return {key: make_optimizer(self._parameters(key), self.config, self.task) for key in keys}

    def _loader(
        self, data: Dataset | Sequence[Any], batch_size: int, rank: int = 0, world: int = 1
    ) -> tuple[DataLoader, ResumableRandomSampler]:
        """Per-rank loader over this rank's shard; ``batch_size`` is the global batch."""
        n = len(data)  # type: ignore[arg-type]
        if n == 0:
            raise ConfigError("the pretraining dataset is empty: nothing to train on")
        effective = min(batch_size, n)
        if effective < self.task.min_batch_size:
            fix = (
                f"give it at least {self.task.min_batch_size} samples (more data, or smaller samples, "
                "e.g. a shorter block length for packed text)"
                if n < self.task.min_batch_size
                else f"set batch_size to at least {self.task.min_batch_size}"
            )
            raise ConfigError(
                f"{type(self.task).__name__} needs batches of at least {self.task.min_batch_size} samples "
                f"but gets {effective} (batch_size={batch_size}, dataset size={n}): {fix}"
            )
        if world > 1 and n > batch_size and batch_size % world:
            raise ConfigError(
                f"batch_size={batch_size} is the global batch and must be divisible by the number of "
                f"processes ({world})"
            )
        if world > effective:
            warnings.warn(
                f"a batch of {effective} sample(s) does not split over {world} processes: each process "
                "gets a copy (e.g. full-graph training), with its own random augmentations",
                stacklevel=3,
            )
        sampler = ResumableRandomSampler(
            n,
            seed=self.config.seed,
            rank=rank,
            world_size=world,
            global_batch=effective,
            drop_last_global=n > batch_size,
        )
        loader = DataLoader(
            IndexedDataset(data) if self.task.needs_indices else data,  # type: ignore[arg-type]
            batch_size=effective // world if n > batch_size else math.ceil(effective / world),
            sampler=sampler,
            collate_fn=CountingCollate(self.task.collate),
            num_workers=self.config.num_workers,
            pin_memory=self.device.type == "cuda",  # page-locked batches: asynchronous copies
            persistent_workers=self.config.num_workers > 0,  # no worker start-up every epoch
            drop_last=False,  # the sampler keeps whole global batches only
            # a private generator: iterating must not consume the global RNG (exact resume)
            generator=torch.Generator().manual_seed(self.config.seed),
        )
        return loader, sampler

    def _prepare_model(self) -> None:
        if self.world > 1 and self.config.sync_batchnorm:
            ddp.check_sync_batchnorm(self.device)
            ddp.convert_sync_batchnorm(self.task)
        self.task.to(self.device)
        self.task.train()
        cuda = self.device.type == "cuda"
        if cuda and self.config.cudnn_benchmark:
            torch.backends.cudnn.benchmark = True
        self._channels_last = self.config.channels_last
        if self._channels_last is None:
            self._channels_last = cuda and any(isinstance(m, nn.Conv2d) for m in self.task.modules())
        if self._channels_last:
            self.task.to(memory_format=torch.channels_last)
        self._compiled: dict[str, Any] = {}

    def fit(
        self, data: Dataset | Sequence[Any], batch_size: int | None = None, resume: bool = False
    ) -> TrainResult:
        """Train on ``data`` (``batch_size``: the global batch; default the config's);
        ``resume`` continues from the newest readable checkpoint in ``output_dir``.
        Joins torchrun's process group if the environment describes one."""
        created = ddp.init_from_env(self.config.device)
        try:
            with self._run_folder_lock():
                return self._fit(data, batch_size or self.config.batch_size, resume)
        finally:
            if self._tensorboard is not None:
                self._tensorboard.close()
                self._tensorboard = None
            if created:
                ddp.destroy()

    @contextlib.contextmanager
    def _run_folder_lock(self) -> Iterator[None]:
        """The output folder's lock, held by the writing process (rank 0) while it trains;
        temporary files a killed write left behind are removed once it is held."""
        if self.output_dir is None or ddp.rank() != 0:
            yield
            return
        with FolderLock(self.output_dir):
            for folder in (self.output_dir, self.output_dir / "checkpoints"):
                remove_orphaned_temp_files(folder)
            yield

    def _fit(self, data: Dataset | Sequence[Any], batch_size: int, resume: bool) -> TrainResult:
        cfg = self.config
        self.rank, self.world = ddp.rank(), ddp.world_size()
        seed_everything(cfg.seed + self.rank)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self._prepare_model()
        loader, sampler = self._loader(data, batch_size, self.rank, self.world)
        steps_per_epoch = len(loader)
        total_steps = budget_steps(cfg.to_dict(), steps_per_epoch)
        optimizers = self._optimizers()
        base_lrs = {k: [g["lr"] for g in o.param_groups] for k, o in optimizers.items()}
        stopper = self._stopper = EarlyStopping(cfg.patience) if cfg.patience else None

        pos = _Position()
        if resume:
            pos = self._restore(optimizers, sampler.global_batch) or pos
        elif self.checkpoints is not None and self.checkpoints.paths():
            raise ConfigError(
                f"{self.output_dir} already holds checkpoints ({self.checkpoints.paths()[-1].name}, ...): "
                "resume it (resume=True, --resume) or write to a new folder"
            )
        if self.is_main:
            self._truncate_log(pos.step)  # steps after the start point are taken again
        self._model = (
            ddp.wrap_ddp(self.task, self.device, cfg.find_unused_parameters) if self.world > 1 else None
        )
        if cfg.tensorboard and self.output_dir is not None and self.is_main:
            self._tensorboard = TensorBoardLog(self.output_dir / "tensorboard", purge_step=pos.step + 1)

        history: list[dict[str, Any]] = []
        window: list[float | Tensor] = []
        window_metrics: dict[str, list[float | Tensor]] = {}
        self._watch = FiniteWatch(self.device) if self.world == 1 and cfg.nan_policy == "stop" else None
        window_skipped, window_samples, first_step = 0, 0, pos.step
        elapsed_before = agreed_elapsed = pos.elapsed
        clock = budget_clock(cfg.clock)
        start, window_start = clock(), time.perf_counter()
        interrupted: str | None = None
        bar = tqdm(
            total=total_steps,
            initial=pos.step,
            disable=not (cfg.progress_bar and self.is_main),
            desc=type(self.task).__name__,
        )

        def progress() -> float:
            fractions = []
            if total_steps:
                fractions.append(pos.step / total_steps)
            if cfg.seconds:
                # every rank must use the same learning rate: the agreed elapsed time under DDP
                now = agreed_elapsed if self.world > 1 else elapsed_before + clock() - start
                fractions.append(now / cfg.seconds)
            return min(max(fractions), 1.0)

        done = self._finished(pos.step, elapsed_before, total_steps)
        if done and resume and self.is_main:
            print(
                f"{self.output_dir or 'the run'} already completed its budget at step {pos.step}"
                f"{' (' + stopper.describe() + ')' if stopper and stopper.stopped else ''}: "
                "nothing to train (give a larger budget or patience to train further)",
                file=sys.stderr,
            )
        with StopSignals() as signals:
            while not done:
                sampler.set_position(pos.epoch, pos.batch_in_epoch * sampler.global_batch)
                for count, batch in loader:
                    factor = warmup_cosine(progress(), cfg.warmup, cfg.min_lr_ratio)
                    for key, opt in optimizers.items():
                        for group, base in zip(opt.param_groups, base_lrs[key]):
                            group["lr"] = base * factor
                    batch = self.task.on_after_batch_transfer(move_to(batch, self.device))
                    if self._channels_last:  # after the hook: views built on the device too
                        batch = channels_last(batch)
                    out, loss_value, skipped = self._step(batch, optimizers, pos.step + 1)
                    pos.step += 1
                    pos.batch_in_epoch += 1
                    if skipped:
                        pos.skipped += 1
                        window_skipped += 1
                    else:
                        pos.last_loss = loss_value
                        if stopper is not None:  # reads the loss back every step
                            stopper.update(float(loss_value), pos.step, self.task)
                        window.append(loss_value)
                        for k, v in out.metrics.items():  # a tensor metric is read at the log point
                            window_metrics.setdefault(k, []).append(
                                v.detach() if isinstance(v, Tensor) else float(v)
                            )
                    self.task.on_train_step_end(progress())
                    bar.update(1)
                    elapsed = elapsed_before + clock() - start
                    # ranks agree on the samples seen, on stopping (signal) and on the time budget
                    count, stop_votes, elapsed_sum = ddp.all_sum(
                        [float(count), float(signals.received is not None), elapsed], self.device
                    )
                    # (padded copies of a batch smaller than the world are not counted twice)
                    count, agreed_elapsed = min(int(count), sampler.global_batch), elapsed_sum / self.world
                    pos.samples += count
                    window_samples += count
                    stopping = stop_votes > 0
                    done = stopping or self._finished(pos.step, agreed_elapsed, total_steps)
                    if done and not stopping and stopper is not None:
                        stopper.restore(self.task)  # the run ends at its lowest-loss weights
                    if pos.step % cfg.log_every == 0 or done:
                        if self._watch is not None:
                            self._watch.check(self.last_checkpoint)
                        now = time.perf_counter()
                        record = {
                            "step": pos.step,
                            "epoch": pos.epoch + pos.batch_in_epoch / max(steps_per_epoch, 1),
                            "loss": window_mean(window),
                            "lr": optimizers[next(iter(optimizers))].param_groups[0]["lr"],
                            "elapsed": round(agreed_elapsed, 3),
                            "samples_per_sec": window_samples / max(now - window_start, 1e-9),
                            "peak_memory_mb": round(peak_memory_mb(self.device), 1),
                            **({"skipped_steps": window_skipped} if window_skipped else {}),
                            **{k: window_mean(v) for k, v in window_metrics.items()},
                        }
                        history.append(record)
                        self._log(record)
                        bar.set_postfix(loss=f"{record['loss']:.4f}")
                        window, window_metrics, window_skipped = [], {}, 0
                        window_start, window_samples = now, 0
                    pos.elapsed = agreed_elapsed
                    if pos.step % cfg.checkpoint_every == 0 or done:
                        self._save(optimizers, pos, sampler.global_batch)
                    if stopping:
                        interrupted = signals.name or "stop requested by another process"
                    if done:
                        break
                else:
                    pos.epoch += 1
                    pos.batch_in_epoch = 0
            if interrupted is None and signals.received is not None:  # during the last checkpoint
                interrupted = signals.name
        bar.close()
        ddp.barrier()  # every rank returns after rank 0 has written the final checkpoint
        return TrainResult(
            steps=pos.step,
            epochs=pos.epoch + pos.batch_in_epoch / max(steps_per_epoch, 1),
            seconds=elapsed_before + clock() - start,
            final_loss=float(pos.last_loss),
            samples=pos.samples,
            checkpoint=self.last_checkpoint,
            history=history,
            interrupted=interrupted,
            skipped_steps=pos.skipped,
            world_size=self.world,
            completed=self._finished(pos.step, pos.elapsed, total_steps),
            new_steps=pos.step - first_step,
            stopped_early=stopper.describe() if stopper is not None and stopper.stopped else None,
        )

    def _forward(self, batch: Any, method: str) -> TaskOutput:
        """The task's ``forward`` (or adversarial loss) on ``batch``, through DDP or, when the
        config asks for it, ``torch.compile`` (compiled once per method)."""
        with self.precision.autocast():
            if self._model is not None:
                with ddp_step():
                    loss, metrics = self._model(batch, method)
                return TaskOutput(loss, metrics)
            fn = self.task if method == "forward" else getattr(self.task, method)
            if self.config.compile and method not in self._compiled:
                self._compiled[method] = torch.compile(fn)
            return self._compiled.get(method, fn)(batch)

    def _step(
        self, batch: Any, optimizers: dict[str, torch.optim.Optimizer], step: int
    ) -> tuple[TaskOutput, float | Tensor, bool]:
        """One update; returns the output, the loss over the global batch and whether the
        step was skipped (non-finite loss under ``nan_policy="skip"``)."""
        if not self.alternating:
            out, value, applied = self._update(batch, "model", optimizers, step)
            return out, value, not applied
        loss, value, metrics = None, 0.0, {}
        for key in self.task.players:  # e.g. the discriminator, then the generator
            out, key_value, applied = self._update(batch, key, optimizers, step)
            if not applied:
                return out, key_value, True
            if key == "generator":
                metrics.update(out.metrics)
            else:  # the other players' metrics and losses under a prefix: disc/loss, ...
                prefix = "disc" if key == "discriminator" else key
                metrics.update({f"{prefix}/{k}": v for k, v in out.metrics.items()})
                metrics[f"{prefix}/loss"] = key_value
            if key != "discriminator":
                loss = out.loss if loss is None else loss + out.loss
                value = value + key_value
        return TaskOutput(loss, metrics), value, False

    def _update(
        self, batch: Any, key: str, optimizers: dict[str, torch.optim.Optimizer], step: int
    ) -> tuple[TaskOutput, float | Tensor, bool]:
        """Forward, check the loss, then backward, clip and step optimiser ``key``; returns
        ``(output, loss over the global batch, whether the update was applied)``. In one
        process with ``nan_policy="stop"`` the loss stays a device tensor (no sync;
        :class:`~sslcore.engine.watch.FiniteWatch`); skipping a bad step, loss scaling (fp16)
        and DDP read it back every step."""
        out = self._forward(batch, "forward" if key == "model" else f"{key}_loss")
        if not isinstance(out, TaskOutput):
            raise TypeError(
                f"{type(self.task).__name__}.forward must return a TaskOutput, got {type(out).__name__}"
            )
        if out.loss.dim() != 0:
            raise ValueError(f"the task's loss must be a scalar, got shape {tuple(out.loss.shape)}")
        scaler, opt = self.precision.scaler(key), optimizers[key]
        opt.zero_grad(set_to_none=True)
        if self._watch is not None and scaler is None:
            # nothing read back: the watch stops the run at the next log point or checkpoint
            value: float | Tensor = out.loss.detach()
            self._watch.record(value, step)
        else:
            # the mean over ranks; a NaN on any rank reaches every rank, so all stop or skip together
            value = ddp.all_sum([float(out.loss.detach())], self.device)[0] / self.world
            if not math.isfinite(value):
                if self.config.nan_policy == "stop":
                    raise NonFiniteLossError(step, value, self.last_checkpoint)
                return out, value, False
        (scaler.scale(out.loss) if scaler is not None else out.loss).backward()
        if self.config.grad_clip:
            if scaler is not None:
                scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(list(self._parameters(key)), self.config.grad_clip)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        return out, value, True

    def _finished(self, step: int, elapsed: float, total_steps: int | None) -> bool:
        """The budget is reached, or early stopping ended the run."""
        stopped = self._stopper is not None and self._stopper.stopped
        return stopped or self._budget_reached(step, elapsed, total_steps)

    def _budget_reached(self, step: int, elapsed: float, total_steps: int | None) -> bool:
        if total_steps is not None and step >= total_steps:
            return True
        return bool(self.config.seconds) and elapsed >= self.config.seconds  # type: ignore[operator]

    def _log(self, record: dict[str, Any]) -> None:
        if self.output_dir is None or not self.is_main:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with open(self.output_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self._tensorboard is not None:
            self._tensorboard.write(record)

    def _truncate_log(self, step: int) -> None:
        """Drop log lines written after the checkpoint we resume from."""
        path = self.output_dir / "metrics.jsonl" if self.output_dir else None
        if path is None or not path.exists():
            return
        kept = [r for r in read_jsonl(path) if r.get("step", 0) <= step]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))

    def _save(self, optimizers: dict[str, torch.optim.Optimizer], pos: _Position, global_batch: int) -> None:
        if self._watch is not None:  # never a checkpoint after a non-finite loss
            self._watch.check(self.last_checkpoint)
        if self.checkpoints is None:
            return
        rng_ranks = ddp.gather_to_main(rng_state())  # a collective: every rank takes part
        path = self.checkpoints.folder / f"step_{pos.step:08d}.pt"
        if self.is_main:
            state = {
                "model": self.task.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                "scalers": self.precision.state_dict(),
                **{key: getattr(pos, key) for key in _SAVED_AS_IS},
                "skipped_steps": pos.skipped,
                "final_loss": float(pos.last_loss),
                # the data position: the next sample is this one of epoch `epoch`'s order
                "data": {
                    "epoch": pos.epoch,
                    "position": pos.batch_in_epoch * global_batch,
                    "global_batch": global_batch,
                    "seed": self.config.seed,
                },
                "rng": rng_ranks[0],  # type: ignore[index]
                "rng_ranks": rng_ranks,
                "world_size": self.world,
                "task": type(self.task).__name__,
                "config": self.config.to_dict(),
                "versions": {**software_versions(self.task), **self.run_info.get("versions", {})},
                "run": self.run_info,
            }
            if self._stopper is not None:
                state["early_stopping"] = self._stopper.state_dict()
            path = self.checkpoints.save(pos.step, state)
        self.last_checkpoint = path

    def _restore(self, optimizers: dict[str, torch.optim.Optimizer], global_batch: int) -> _Position | None:
        if self.checkpoints is None:
            return None
        # rank 0 picks the newest readable checkpoint; every rank then reads that file
        found, problem = None, None
        if self.is_main:
            found = self.checkpoints.latest()
            chosen = str(found[0]) if found else None
            if found is None and self.checkpoints.paths():
                problem = _no_readable_checkpoint(self.checkpoints)
        chosen, problem = ddp.broadcast((chosen, problem) if self.is_main else None)
        if problem is not None:
            raise CheckpointError(problem)
        if chosen is None:
            return None
        path = Path(chosen)
        state = found[1] if found is not None else load_checkpoint(path)
        if state.get("task") != type(self.task).__name__:
            raise CheckpointError(
                f"checkpoint {path} is of task {state.get('task')!r}, not {type(self.task).__name__!r}"
            )
        saved_batch = state.get("data", {}).get("global_batch", global_batch)
        if saved_batch != global_batch:
            raise CheckpointError(
                f"checkpoint {path} was written with a global batch of {saved_batch} samples, this run "
                f"uses {global_batch}: resume with the same batch_size"
            )
        self.task.load_state_dict(state["model"])
        for key, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][key])
        self.precision.load_state_dict(state.get("scalers", {}))
        if self._stopper is not None and "early_stopping" in state:
            self._stopper.load_state_dict(state["early_stopping"])
        self._restore_rng(state, path)
        self.last_checkpoint = path
        moved = self.checkpoints.set_aside_after(state["step"]) if self.is_main else []
        if moved:
            warnings.warn(
                f"resuming from {path.name}; the unreadable newer checkpoint(s) "
                f"{', '.join(p.name for p in moved)} were moved to {moved[0].parent}",
                stacklevel=3,
            )
        return _Position(
            **{key: state[key] for key in _SAVED_AS_IS},
            skipped=state.get("skipped_steps", 0),
            last_loss=state.get("final_loss", float("nan")),
        )

    def _restore_rng(self, state: dict[str, Any], path: Path) -> None:
        saved_world = state.get("world_size", 1)
        if saved_world == self.world:
            ranks = state.get("rng_ranks") or [state["rng"]]
            set_rng_state(ranks[self.rank])
            return
        warnings.warn(
            f"checkpoint {path} was written by {saved_world} process(es) and is resumed by {self.world}: "
            "weights, optimiser and data position are restored, random streams are reseeded",
            stacklevel=3,
        )
        seed_everything(self.config.seed + self.rank + 7919 * state["step"])


def _no_readable_checkpoint(checkpoints: CheckpointDir) -> str:
    names = ", ".join(p.name for p in checkpoints.paths())
    return (
        f"cannot resume: no checkpoint in {checkpoints.folder} is readable ({names}; see the warnings "
        f"above). Start the run over by deleting {checkpoints.folder} and "
        f"{checkpoints.folder.parent / 'metrics.jsonl'} (or by writing to a new output folder), "
        "or copy a good checkpoint of the same run into it"
    )
