r"""Fine-tuning protocol: train the encoder and a linear head end to end on the labels.

For each learning rate :math:`\eta` in ``lrs``, starting every time from the task's own
weights: put a linear head on ``embed``, :math:`\hat y = W\,\mathrm{embed}(x) + b`
(``embed``: ``[B, d]``, :math:`W \in \mathbb{R}^{K \times d}`), and minimise the
cross-entropy over the fitting rows with AdamW for ``epochs`` epochs (learning rate
warmed up linearly over the first ``warmup`` fraction of the steps, then decayed linearly
to 0; gradients clipped to norm 1; no weight decay on biases, norms and what a module's
``no_weight_decay()`` names, as in the trainer). After each epoch the accuracy on the
selection rows (``"val"``, or a stratified 10 % of ``"train"``) and on the test rows is
measured; the (learning rate, epoch) with the best selection accuracy is reported with its
test accuracy -- early stopping on the selection rows, the test rows never choose anything.
With ``splits=None``: stratified ``folds``-fold cross-validation, each outer training
part split into fitting and selection rows as above (SentEval's protocol).

This is the GLUE-style protocol of BERT and ELECTRA (a grid of learning rates, a few
epochs, the best development-set checkpoint); the frozen protocols (linear, kNN) see
only embeddings, this one trains the encoder: the task's weights are saved first and
restored after every learning rate, so the task passed in is left as it was.

Layer-wise learning-rate decay (``layer_decay`` :math:`\gamma < 1`, BEiT / MAE): an
encoder with ``num_layers`` :math:`L` and ``layer_id(name)`` (0: patch embedding and
tokens, ..., :math:`L`: the last block) trains a parameter of layer :math:`i` at
:math:`\eta\,\gamma^{L + 1 - i}`; the head (and any task parameter outside the encoder)
is layer :math:`L + 1`, at :math:`\eta`.

Rows: one per dataset item, trained in shuffled mini-batches of ``batch_size`` items --
or, for a dataset of a single item embedded to many rows (a transductive graph), one
full-batch step per epoch with the loss on the fitting rows (pass more ``epochs``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch
import torch.nn.functional as F
from annotated_types import Ge, Gt, Interval
from sklearn.model_selection import StratifiedKFold
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset

from sslcore.data import EvalSet
from sslcore.engine.batch import move_to
from sslcore.engine.trainer import decay_exempt
from sslcore.errors import ConfigError
from sslcore.evaluation.linear import ProbeResult
from sslcore.evaluation.splits import selection_split
from sslcore.paradigms import PretextTask

DEFAULT_LRS = (1e-4,)


def _labels(evalset: EvalSet) -> tuple[np.ndarray, bool]:
    """All labels in row order, and whether the data is one item embedded to many rows."""
    if len(evalset.dataset) == 0:
        raise ValueError("the evaluation set is empty: nothing to fine-tune on")
    if len(evalset.dataset) == 1:
        _, labels = evalset.collate([evalset.dataset[0]])
        labels = torch.as_tensor(labels).reshape(-1)
        if len(labels) > 1:
            return labels.numpy(), True
    return np.asarray([int(evalset.dataset[i][1]) for i in range(len(evalset.dataset))]), False


@dataclass
class _Rows:
    """Embedding of chosen rows, by mini-batches of items or from the single item."""

    evalset: EvalSet
    device: torch.device
    single_item: bool
    batch_size: int

    def batches(
        self, rows: np.ndarray, generator: torch.Generator | None
    ) -> Iterator[tuple[Tensor | None, Any]]:
        """``(row_index or None, batch)`` pairs: shuffled when ``generator`` is given."""
        if self.single_item:
            yield torch.as_tensor(rows), self.evalset.collate([self.evalset.dataset[0]])
            return
        loader = DataLoader(
            Subset(self.evalset.dataset, rows.tolist()),  # type: ignore[arg-type]
            batch_size=self.batch_size,
            shuffle=generator is not None,
            generator=generator,
            collate_fn=self.evalset.collate,
        )
        for batch in loader:
            yield None, batch

    def logits(
        self, task: PretextTask, head: nn.Module, rows: Tensor | None, batch: object
    ) -> tuple[Tensor, Tensor]:
        inputs, labels = move_to(batch, self.device)
        z = task.embed(inputs)
        labels = torch.as_tensor(labels, device=self.device).reshape(-1)
        if rows is not None:
            z, labels = z[rows.to(self.device)], labels[rows.to(self.device)]
        return head(z), labels

    @torch.no_grad()
    def accuracy(self, task: PretextTask, head: nn.Module, rows: np.ndarray) -> float:
        task.eval()
        correct = 0
        for index, batch in self.batches(rows, None):
            logits, labels = self.logits(task, head, index, batch)
            correct += int((logits.argmax(-1) == labels).sum())
        return correct / len(rows)


@dataclass
class _Split:
    """Row indices: ``fit`` trains, ``select`` chooses (learning rate, epoch), ``test`` scores."""

    fit: np.ndarray
    select: np.ndarray
    test: np.ndarray


def _schedule(step: int, total: int, warmup: float) -> float:
    """Linear warm-up over ``warmup * total`` steps, then linear decay to 0."""
    warm = max(1, math.ceil(warmup * total))
    return (step + 1) / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))


def _layer_ids(encoder: nn.Module) -> dict[int, int]:
    """``{id(parameter): layer}`` from ``encoder.layer_id``; a :class:`ConfigError` when the
    encoder has no ``num_layers`` and ``layer_id`` or a layer is outside ``0..num_layers``."""
    if not isinstance(getattr(encoder, "num_layers", None), int) or not callable(
        getattr(encoder, "layer_id", None)
    ):
        raise ConfigError(
            f"finetune: layer_decay < 1 needs the encoder's layers, but {type(encoder).__name__} has no "
            "num_layers (int) and layer_id(param_name) -> 0..num_layers; use layer_decay=1.0 or an "
            "encoder that numbers its layers (e.g. a ViT)"
        )
    layers: dict[int, int] = {}
    for name, p in encoder.named_parameters():
        layer = int(encoder.layer_id(name))
        if not 0 <= layer <= encoder.num_layers:
            raise ConfigError(
                f"finetune: {type(encoder).__name__}.layer_id({name!r}) is {layer}, outside "
                f"0..num_layers ({encoder.num_layers})"
            )
        layers.setdefault(id(p), layer)
    return layers


def param_groups(
    task: PretextTask, head: nn.Module, weight_decay: float, layer_decay: float = 1.0
) -> list[dict[str, Any]]:
    r"""AdamW parameter groups of ``task`` and ``head``, each with its ``lr_scale``:
    :math:`\gamma^{L + 1 - i}` for a parameter of the encoder's layer :math:`i`
    (``encoder.layer_id``, used when ``layer_decay`` :math:`\gamma < 1`), 1 for the head
    and the task's other parameters; ``weight_decay`` on weight matrices not named by a
    ``no_weight_decay()``, 0 on the rest. Only parameters with ``requires_grad``, each once."""
    top, layer_of = 0, {}
    if layer_decay < 1:
        layer_of = _layer_ids(task.encoder)
        top = task.encoder.num_layers + 1
    exempt = decay_exempt(task)
    unique = {id(p): p for p in [*task.parameters(), *head.parameters()] if p.requires_grad}
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for key, p in unique.items():
        layer, decay = layer_of.get(key, top), p.dim() > 1 and key not in exempt
        group = groups.setdefault(
            (layer, decay),
            {
                "params": [],
                "weight_decay": weight_decay if decay else 0.0,
                "lr_scale": layer_decay ** (top - layer),
            },
        )
        group["params"].append(p)
    return list(groups.values())


def _fine_tune_once(
    task: PretextTask,
    rows: _Rows,
    split: _Split,
    num_classes: int,
    lr: float,
    epochs: int,
    weight_decay: float,
    layer_decay: float,
    warmup: float,
    seed: int,
) -> list[tuple[float, float]]:
    """Fine-tune ``task`` in place; ``(selection, test)`` accuracy after every epoch."""
    torch.manual_seed(seed)
    dim = getattr(task.encoder, "output_dim", None)
    head = nn.LazyLinear(num_classes) if dim is None else nn.Linear(int(dim), num_classes)
    head.to(rows.device)
    generator = torch.Generator().manual_seed(seed)
    total = epochs * (1 if rows.single_item else math.ceil(len(split.fit) / rows.batch_size))
    optimiser: torch.optim.Optimizer | None = None
    history, step = [], 0
    for _ in range(epochs):
        task.train()
        for index, batch in rows.batches(split.fit, generator):
            logits, labels = rows.logits(task, head, index, batch)
            loss = F.cross_entropy(logits, labels)
            if not torch.isfinite(loss):
                raise ValueError(
                    f"fine-tuning loss became {float(loss.detach())} at step {step} with learning rate {lr:g}; "
                    "use smaller learning rates (option lrs)"
                )
            if optimiser is None:  # after the first forward pass a lazy head has its shape
                optimiser = torch.optim.AdamW(param_groups(task, head, weight_decay, layer_decay), lr=lr)
            for group in optimiser.param_groups:
                group["lr"] = lr * group["lr_scale"] * _schedule(step, total, warmup)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_([p for g in optimiser.param_groups for p in g["params"]], 1.0)
            optimiser.step()
            step += 1
        history.append((rows.accuracy(task, head, split.select), rows.accuracy(task, head, split.test)))
    return history


def _select(
    task: PretextTask, rows: _Rows, split: _Split, num_classes: int, lrs: Sequence[float], **train: float
) -> tuple[float, float, dict[str, float]]:
    """Best (selection accuracy, its test accuracy, {lr, epoch}) over the grid; the task's
    weights are restored after every run."""
    initial = {k: v.detach().clone() for k, v in task.state_dict().items()}
    best: tuple[float, float, dict[str, float]] = (-1.0, 0.0, {})
    for lr in lrs:
        try:
            history = _fine_tune_once(task, rows, split, num_classes, lr, **train)  # type: ignore[arg-type]
        finally:
            task.load_state_dict(initial)
        for epoch, (sel, tst) in enumerate(history, 1):
            if sel > best[0]:
                best = (sel, tst, {"lr": lr, "epoch": epoch})
    return best


def finetune(
    task: PretextTask,
    evalset: EvalSet,
    lrs: Sequence[Annotated[float, Gt(0)]] | Annotated[float, Gt(0)] = DEFAULT_LRS,
    epochs: Annotated[int, Ge(1)] = 3,
    batch_size: Annotated[int, Ge(1)] = 32,
    weight_decay: Annotated[float, Ge(0)] = 0.01,
    warmup: Annotated[float, Interval(ge=0, lt=1)] = 0.1,
    folds: Annotated[int, Ge(2)] = 10,
    layer_decay: Annotated[float, Interval(gt=0, le=1)] = 1.0,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> ProbeResult:
    """Fine-tune ``task``'s encoder with a linear head, then restore its weights; see the
    module docstring.

    Args:
        task: its ``embed`` (``[B, d]``) is trained; its weights are unchanged afterwards.
        evalset: labelled rows with ``splits`` (``train`` / optional ``val`` / ``test``) or
            ``None`` for ``folds``-fold cross-validation.
        lrs: the learning-rate grid; the best (rate, epoch) on the selection rows is kept.
        layer_decay: layer-wise learning-rate decay in (0, 1] (1: none); below 1 the encoder
            needs ``num_layers`` and ``layer_id(name)`` (module docstring).
    """
    lrs = [float(lr) for lr in (lrs if isinstance(lrs, Sequence) else [lrs])]
    if not lrs or any(not lr > 0 for lr in lrs):
        raise ConfigError(f"finetune: lrs must be a non-empty list of positive learning rates, got {lrs}")
    for name, value, least in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("folds", folds, 2)):
        if int(value) != value or value < least:
            raise ConfigError(f"finetune: {name} must be an integer >= {least}, got {value}")
    if not 0 <= warmup < 1:
        raise ConfigError(f"finetune: warmup is a fraction of the steps in [0, 1), got {warmup}")
    if not 0 < layer_decay <= 1:
        raise ConfigError(f"finetune: layer_decay must be in (0, 1], got {layer_decay}")
    if layer_decay < 1:
        _layer_ids(task.encoder)  # refuse an encoder without layer ids before any training
    y, single_item = _labels(evalset)
    num_classes = int(evalset.num_classes or y.max() + 1)
    device = torch.device(device)
    task.to(device)
    rows = _Rows(evalset, device, single_item, int(batch_size))
    train = {
        "epochs": int(epochs),
        "weight_decay": weight_decay,
        "layer_decay": float(layer_decay),
        "warmup": warmup,
        "seed": seed,
    }
    was_training = task.training
    try:
        if evalset.splits is not None:
            split = _Split(*selection_split(y, evalset.splits, seed))
            sel, acc, chosen = _select(task, rows, split, num_classes, lrs, **train)
            return ProbeResult(
                "finetune", acc, sel, chosen, num_train=len(split.fit), num_test=len(split.test)
            )
        scores = []
        outer = StratifiedKFold(int(folds), shuffle=True, random_state=seed)
        for train_rows, test_rows in outer.split(np.zeros(len(y)), y):
            fit, select, _ = selection_split(y, {"train": train_rows, "test": test_rows}, seed)
            scores.append(_select(task, rows, _Split(fit, select, test_rows), num_classes, lrs, **train)[1])
        return ProbeResult.from_folds("finetune", scores, len(y))
    finally:
        task.train(was_training)
