"""Training configuration, validated on construction.

:class:`TrainConfig` is the one description of the training options: each field's type
hint says what it accepts (``Literal`` choices, ``annotated_types`` ranges, as in
:mod:`sslcore.options`) and its ``metadata`` holds its help text, its group and whether a
task's recipe may set it. ``sslcore pretrain``'s flags, the comparison grid's checks and
the error messages below are all derived from it.
"""

from __future__ import annotations

import dataclasses
import math
import time
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Interval

from sslcore.errors import ConfigError, suggest
from sslcore.options import value_error

Optimizer = Literal["adamw", "adam", "sgd", "lars"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
NanPolicy = Literal["stop", "skip"]
Clock = Literal["wall", "cpu"]

OPTIMIZERS: tuple[str, ...] = typing.get_args(Optimizer)
PRECISIONS: tuple[str, ...] = typing.get_args(Precision)
NAN_POLICIES: tuple[str, ...] = typing.get_args(NanPolicy)

#: the groups of fields, in the order ``sslcore pretrain --help`` shows them, with a line on each
GROUPS = {
    "budget": "training stops at whichever budget is reached first; the learning-rate schedule "
    "follows the fraction of the budget used",
    "optimisation": "optimiser, learning-rate schedule and batch",
    "precision and device": "where and in which precision the run trains",
    "logging and checkpoints": "metrics log, checkpoints and progress",
    "data loading": "the DataLoader",
    "distributed and GPU": "torchrun (DDP) and GPU speed options",
}


def _field(default: Any, help: str, group: str, *, recipe: bool = False, default_text: str = "") -> Any:
    """A field with its ``help`` text, its ``group`` (a key of :data:`GROUPS`), whether a
    task's recipe may set it (``recipe``) and, when the default needs words, ``default_text``."""
    metadata = {"help": help, "group": group, "recipe": recipe}
    if default_text:
        metadata["default_text"] = default_text
    return dataclasses.field(default=default, metadata=metadata)


PositiveFloat = Annotated[float, Gt(0)]
PositiveInt = Annotated[int, Gt(0)]
Count = Annotated[int, Ge(1)]


@dataclass
class TrainConfig:
    """Everything the trainer needs besides the task and the data. Each field's meaning is its
    ``help`` metadata (``sslcore pretrain --help`` prints them all, grouped, with :data:`GROUPS`'
    lines); its type hint says which values it accepts."""

    epochs: PositiveFloat | None = _field(
        None, "passes over the pretraining set (fractions allowed)", "budget", recipe=True
    )
    steps: PositiveInt | None = _field(None, "optimisation steps", "budget", recipe=True)
    seconds: PositiveFloat | None = _field(
        None, "seconds of training, measured by `clock`", "budget", recipe=True
    )
    patience: PositiveInt | None = _field(
        None,
        "early stopping: stop once the training loss has not fallen below its lowest value for N "
        "consecutive steps, and end at the weights of that lowest-loss step (DGI's and MVGRL's "
        "reference protocol, N = 20); epochs, steps or seconds stay the most it may train",
        "budget",
        recipe=True,
        default_text="none: train the whole budget",
    )
    clock: Clock = _field(
        "wall",
        "what `seconds` counts: wall-clock time, or the CPU time of the training process (all its "
        "threads, not its data-loading workers), which other programs sharing the machine do not "
        "consume: a time budget that gives the same training on a busy machine as on an idle one",
        "budget",
    )
    batch_size: Count = _field(
        256,
        "samples per step; under torchrun the global batch, split evenly over the processes",
        "optimisation",
        recipe=True,
    )
    optimizer: Optimizer = _field(
        "adamw",
        "AdamW (decoupled weight decay), Adam (L2 penalty in the gradient), SGD with momentum, or LARS "
        "(SGD with momentum whose update of each weight matrix is scaled by the trust ratio "
        "lars_eta * ||w|| / (||g|| + weight_decay * ||w||), for large batches; biases, norms and the "
        "parameters exempt from weight decay get plain SGD with momentum)",
        "optimisation",
        recipe=True,
    )
    lr: PositiveFloat = _field(1e-3, "peak learning rate, reached after warmup", "optimisation", recipe=True)
    weight_decay: Annotated[float, Ge(0)] = _field(
        1e-4,
        "weight decay on weight matrices; not on biases or norms (1-D parameters) nor on what a "
        "module's no_weight_decay() names (timm's convention, e.g. a ViT's pos_embed and cls_token)",
        "optimisation",
        recipe=True,
    )
    momentum: Annotated[float, Ge(0)] = _field(
        0.9, "momentum of SGD and LARS (used with optimizer sgd or lars)", "optimisation", recipe=True
    )
    lars_eta: PositiveFloat = _field(
        0.001,
        "LARS's trust coefficient eta (used with optimizer lars): 0.001 as You et al. and lightly, "
        "0.02 as solo-learn's SimCLR/BYOL recipes",
        "optimisation",
        recipe=True,
    )
    warmup: Annotated[float, Interval(ge=0, lt=1)] = _field(
        0.05,
        "fraction of the budget spent in linear warmup, in [0, 1); then cosine decay",
        "optimisation",
        recipe=True,
    )
    min_lr_ratio: Annotated[float, Interval(ge=0, le=1)] = _field(
        0.0, "the cosine decay ends at this fraction of lr, in [0, 1]", "optimisation", recipe=True
    )
    grad_clip: PositiveFloat | None = _field(
        None,
        "clip the gradients' global norm to this value",
        "optimisation",
        recipe=True,
        default_text="none: no clipping",
    )
    precision: Precision = _field(
        "auto",
        "auto: bf16 autocast on a CUDA device with bf16, else fp32; fp32; bf16 autocast (CPU "
        "and CUDA); fp16 autocast with loss scaling (CUDA only)",
        "precision and device",
    )
    nan_policy: NanPolicy = _field(
        "stop",
        "on a NaN or infinite loss: stop (raise, keeping the last good checkpoint) or skip the step",
        "optimisation",
    )
    seed: int = _field(
        0, "seed of the model's initialisation, the data order and the augmentations", "optimisation"
    )
    num_workers: Annotated[int, Ge(0)] = _field(
        0, "DataLoader worker processes (0: load in the training process)", "data loading"
    )
    threads: Count | None = _field(
        None, "torch CPU threads of this process", "precision and device", default_text="torch's default"
    )
    device: str = _field(
        "auto",
        "auto (CUDA when a GPU is visible, cuda:LOCAL_RANK under torchrun, else the CPU), cpu, cuda or cuda:N",
        "precision and device",
    )
    log_every: Count = _field(
        10, "write a metrics record to metrics.jsonl every N steps", "logging and checkpoints"
    )
    checkpoint_every: Count = _field(
        500, "save a checkpoint every N steps (and when training ends or stops)", "logging and checkpoints"
    )
    keep_checkpoints: Count = _field(
        2, "how many of the latest checkpoints to keep", "logging and checkpoints"
    )
    progress_bar: bool = _field(True, "show a progress bar", "logging and checkpoints")
    sync_batchnorm: bool = _field(
        False, "convert BatchNorm to SyncBatchNorm under DDP (CUDA)", "distributed and GPU"
    )
    find_unused_parameters: bool = _field(
        True,
        "DDP's option, needed when a step leaves some parameters without a gradient (e.g. the "
        "alternating adversarial schedule)",
        "distributed and GPU",
    )
    tensorboard: bool = _field(
        False,
        "also write TensorBoard events to OUTPUT/tensorboard (needs tensorboard)",
        "logging and checkpoints",
    )
    compile: bool = _field(
        False,
        "run the task's losses through torch.compile (a GPU speed-up; the first steps pay the compilation)",
        "distributed and GPU",
    )
    channels_last: bool | None = _field(
        None,
        "store the model and 4-D image batches NHWC, the layout cuDNN's tensor-core convolutions want",
        "distributed and GPU",
        default_text="auto: on CUDA when the task has a 2-D convolution",
    )
    cudnn_benchmark: bool = _field(
        True,
        "let cuDNN pick the fastest convolution algorithm for the (fixed) input shapes",
        "distributed and GPU",
    )

    def __post_init__(self) -> None:
        if self.epochs is None and self.steps is None and self.seconds is None:
            raise ConfigError("no training budget: set epochs, steps or seconds")
        for f in dataclasses.fields(self):
            problem = field_problem(f.name, getattr(self, f.name))
            if problem is not None:
                raise ConfigError(f"{f.name} {problem}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build from a mapping, rejecting unknown keys with the closest valid one."""
        for key in values:
            if key not in FIELDS:
                raise ConfigError(
                    f"unknown training option {key!r}{suggest(key, FIELDS)} Valid: {', '.join(FIELDS)}."
                )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def budget_clock(clock: Clock) -> Callable[[], float]:
    """The seconds counter a time budget reads (``TrainConfig.clock``): ``time.perf_counter``
    for ``"wall"``, ``time.process_time`` (this process's CPU time over all its threads) for
    ``"cpu"``. Only differences of its values mean anything."""
    return time.process_time if clock == "cpu" else time.perf_counter


def budget_steps(budget: Mapping[str, Any], steps_per_epoch: int) -> int | None:
    """The steps a budget (``steps`` / ``epochs`` / ``seconds`` values) allows with
    ``steps_per_epoch``: the smaller of ``steps`` and ``ceil(epochs * steps_per_epoch)``;
    None for a budget in seconds only (the trainer also stops at ``seconds``)."""
    candidates = []
    if budget.get("steps"):
        candidates.append(int(budget["steps"]))
    if budget.get("epochs"):
        candidates.append(max(1, math.ceil(budget["epochs"] * steps_per_epoch)))
    return min(candidates) if candidates else None


#: each field's resolved type hint (``Annotated`` ranges kept)
HINTS: dict[str, Any] = typing.get_type_hints(TrainConfig, include_extras=True)
FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrainConfig)}
#: the budget amounts (``clock`` says how ``seconds`` are counted and ``patience`` stops
#: earlier within them; neither is an amount)
BUDGET_KEYS: tuple[str, ...] = tuple(
    n for n, f in FIELDS.items() if f.metadata.get("group") == "budget" and n not in ("clock", "patience")
)


def field_problem(name: str, value: Any) -> str | None:
    """Why ``value`` does not fit the field ``name`` (its type and range), e.g. ``"must be > 0,
    got 0"`` (with a suggestion for a misspelt choice); None when it fits."""
    hint = HINTS[name]
    problem = value_error(value, hint)
    if problem is not None and isinstance(value, str) and typing.get_origin(hint) is Literal:
        problem += suggest(value, typing.get_args(hint))
    return problem
