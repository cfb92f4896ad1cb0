"""The engine's optimisers: LARS against a plain reference of its update rule, its excluded
parameters behaving like SGD, its state round-tripping; the weight-decay groups built from
``p.dim()`` and timm's ``no_weight_decay()`` convention."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

from sslcore.engine import TrainConfig
from sslcore.engine.lars import LARS
from sslcore.engine.trainer import decay_exempt, make_optimizer, weight_decay_groups

STEPS = 6


def reference_update(
    w: Tensor, g: Tensor, buf: Tensor | None, *, lr: float, momentum: float, wd: float, eta: float,
    nesterov: bool, adapt: bool,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """One LARS step written out: ``u = eta ||w|| / (||g|| + wd ||w||) * (g + wd w)`` for an
    adapted parameter with non-zero norms, else ``u = g``; then SGD with momentum."""
    w_norm, g_norm = float(w.norm()), float(g.norm())
    if adapt and w_norm > 0 and g_norm > 0:
        u = eta * w_norm / (g_norm + wd * w_norm) * (g + wd * w)
    else:
        u = g.clone()
    buf = u.clone() if buf is None else momentum * buf + u
    step = u + momentum * buf if nesterov else buf
    return w - lr * step, buf


def problem(seed: int = 0) -> tuple[nn.Linear, Tensor, Tensor]:
    """A linear layer (weight ``[3, 5]``, bias ``[3]``) and a least-squares target, in float64."""
    g = torch.Generator().manual_seed(seed)
    layer = nn.Linear(5, 3).double()
    with torch.no_grad():
        layer.weight.copy_(torch.randn(3, 5, generator=g, dtype=torch.float64))
        layer.bias.copy_(torch.randn(3, generator=g, dtype=torch.float64))
    x = torch.randn(16, 5, generator=g, dtype=torch.float64)
    y = torch.randn(16, 3, generator=g, dtype=torch.float64)
    return layer, x, y


def loss_of(layer: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    return (layer(x) - y).pow(2).mean()


def run_lars(layer: nn.Module, x: Tensor, y: Tensor, optimiser: torch.optim.Optimizer, steps: int) -> None:
    for _ in range(steps):
        optimiser.zero_grad()
        loss_of(layer, x, y).backward()
        optimiser.step()


def run_reference(
    layer: nn.Module, x: Tensor, y: Tensor, steps: int, excluded: frozenset[str] = frozenset(), **hyper
) -> dict[str, Tensor]:
    params = {n: p.detach().clone().requires_grad_() for n, p in layer.named_parameters()}
    bufs: dict[str, Tensor | None] = dict.fromkeys(params)
    for _ in range(steps):
        out = torch.func.functional_call(layer, params, (x,))
        grads = torch.autograd.grad((out - y).pow(2).mean(), list(params.values()))
        for (name, w), g in zip(list(params.items()), grads):
            adapt = w.dim() > 1 and name not in excluded
            new, bufs[name] = reference_update(w.detach(), g, bufs[name], adapt=adapt, **hyper)
            params[name] = new.requires_grad_()
    return {n: p.detach() for n, p in params.items()}


@pytest.mark.parametrize("wd", [0.0, 0.1])
@pytest.mark.parametrize(("momentum", "nesterov"), [(0.9, False), (0.9, True), (0.0, False)])
def test_lars_matches_the_reference_update(wd: float, momentum: float, nesterov: bool) -> None:
    hyper = dict(lr=0.5, momentum=momentum, wd=wd, eta=0.02, nesterov=nesterov)
    layer, x, y = problem()
    expected = run_reference(layer, x, y, STEPS, **hyper)
    opt = LARS(layer.parameters(), lr=0.5, momentum=momentum, weight_decay=wd, eta=0.02, nesterov=nesterov)
    run_lars(layer, x, y, opt, STEPS)
    for name, p in layer.named_parameters():
        assert torch.allclose(p.detach(), expected[name], rtol=1e-10, atol=1e-12), name
    # the trust ratio changed the weight's update (a plain SGD run ends elsewhere)
    sgd_layer, x, y = problem()
    run_lars(sgd_layer, x, y, torch.optim.SGD(sgd_layer.parameters(), lr=0.5, momentum=momentum), STEPS)
    assert not torch.allclose(sgd_layer.weight, layer.weight, atol=1e-4)


def test_first_step_moves_a_weight_by_lr_eta_times_its_norm() -> None:
    """Without weight decay and momentum history, ``||dw|| = lr * eta * ||w||`` whatever ``||g||``."""
    for scale in (1e-3, 1.0, 1e3):
        layer, x, y = problem()
        before = layer.weight.detach().clone()
        opt = LARS(layer.parameters(), lr=0.5, momentum=0.9, eta=0.01)
        opt.zero_grad()
        (scale * loss_of(layer, x, y)).backward()
        opt.step()
        moved = float((layer.weight.detach() - before).norm())
        assert moved == pytest.approx(0.5 * 0.01 * float(before.norm()), rel=1e-9)


@pytest.mark.parametrize("flag", ["lars_exclude", "exclude"])
def test_an_excluded_group_trains_like_sgd_with_momentum_without_decay(flag: str) -> None:
    layer, x, y = problem()
    twin = copy.deepcopy(layer)
    lars = LARS([{"params": layer.parameters(), flag: True}], lr=0.3, momentum=0.9, weight_decay=0.5)
    run_lars(layer, x, y, lars, STEPS)
    run_lars(twin, x, y, torch.optim.SGD(twin.parameters(), lr=0.3, momentum=0.9), STEPS)
    for p, q in zip(layer.parameters(), twin.parameters()):
        assert torch.allclose(p, q, rtol=1e-12, atol=1e-14)
    # and the reference agrees with both parameters excluded
    fresh, x, y = problem()
    expected = run_reference(
        fresh,
        x,
        y,
        STEPS,
        excluded=frozenset({"weight"}),
        lr=0.3,
        momentum=0.9,
        wd=0.5,
        eta=1e-3,
        nesterov=False,
    )
    assert torch.allclose(layer.weight.detach(), expected["weight"], rtol=1e-10)


def test_mixed_groups_follow_the_reference() -> None:
    layer, x, y = problem(seed=3)
    hyper = dict(lr=0.2, momentum=0.8, wd=0.05, eta=0.01, nesterov=False)
    expected = run_reference(layer, x, y, STEPS, **hyper)
    opt = LARS(
        [{"params": [layer.weight]}, {"params": [layer.bias], "weight_decay": 0.0, "lars_exclude": True}],
        lr=0.2,
        momentum=0.8,
        weight_decay=0.05,
        eta=0.01,
    )
    run_lars(layer, x, y, opt, STEPS)
    assert torch.allclose(layer.weight.detach(), expected["weight"], rtol=1e-10)
    assert torch.allclose(layer.bias.detach(), expected["bias"], rtol=1e-10)


def test_zero_norms_leave_the_gradient_unscaled() -> None:
    # ||w|| = 0: the update is the raw gradient, lr * g
    w = nn.Parameter(torch.zeros(2, 3, dtype=torch.float64))
    opt = LARS([w], lr=0.1, momentum=0.9, weight_decay=0.5, eta=1e-3)
    w.grad = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    opt.step()
    assert torch.equal(w.detach(), -0.1 * torch.arange(6, dtype=torch.float64).reshape(2, 3))
    assert torch.isfinite(w).all()
    # ||g|| = 0: nothing moves (no decay, no NaN from 0 / 0)
    v = nn.Parameter(torch.ones(2, 3))
    opt = LARS([v], lr=0.1, momentum=0.9, weight_decay=0.5)
    v.grad = torch.zeros(2, 3)
    opt.step()
    assert torch.equal(v.detach(), torch.ones(2, 3))


def test_parameters_without_a_gradient_are_skipped() -> None:
    layer, x, y = problem()
    frozen = nn.Parameter(torch.ones(2, 2))
    opt = LARS([*layer.parameters(), frozen], lr=0.1)
    run_lars(layer, x, y, opt, 2)
    assert torch.equal(frozen.detach(), torch.ones(2, 2)) and frozen not in opt.state


def test_state_dict_round_trip_continues_exactly() -> None:
    layer, x, y = problem()
    straight = copy.deepcopy(layer)
    run_lars(straight, x, y, LARS(straight.parameters(), lr=0.5, weight_decay=0.1, eta=0.02), 2 * STEPS)

    opt = LARS(layer.parameters(), lr=0.5, weight_decay=0.1, eta=0.02)
    run_lars(layer, x, y, opt, STEPS)
    saved = copy.deepcopy(opt.state_dict())
    resumed = LARS(layer.parameters(), lr=1.0)  # hyper-parameters come back from the state
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["eta"] == 0.02 and resumed.param_groups[0]["weight_decay"] == 0.1
    run_lars(layer, x, y, resumed, STEPS)
    for p, q in zip(layer.parameters(), straight.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -1.0}, "lr"),
        ({"lr": 0.1, "momentum": -0.1}, "momentum"),
        ({"lr": 0.1, "weight_decay": -1.0}, "weight_decay"),
        ({"lr": 0.1, "eta": 0.0}, "eta"),
        ({"lr": 0.1, "momentum": 0.0, "nesterov": True}, "nesterov"),
    ],
)
def test_lars_rejects_bad_hyper_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LARS([nn.Parameter(torch.ones(2, 2))], **kwargs)


# -- weight-decay groups -------------------------------------------------------------------------
class TinyViT(nn.Module):
    """timm's convention: ``no_weight_decay()`` names parameters relative to this module
    (``dist_token`` does not exist, as in timm's plain ViT)."""

    def __init__(self) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, 4, 8))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.proj = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token", "dist_token"}


class TwoViTs(nn.Module):
    """An online ViT at ``encoder.``, a trainable copy, a frozen momentum copy and a head that
    shares the encoder's projection."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = TinyViT()
        self.copy = TinyViT()
        self.target = copy.deepcopy(self.encoder).requires_grad_(False)
        self.head = nn.Sequential(nn.Linear(8, 2))
        self.shared = self.encoder.proj  # the same module twice


def ids(params) -> set[int]:
    return {id(p) for p in params}


def test_no_weight_decay_names_go_to_the_zero_decay_group_once() -> None:
    model = TwoViTs()
    opt = make_optimizer(model, TrainConfig(steps=1, weight_decay=0.05))
    decay, exempt = opt.param_groups
    assert (decay["weight_decay"], exempt["weight_decay"]) == (0.05, 0.0)
    assert ids(decay["params"]) == ids(
        [model.encoder.proj.weight, model.copy.proj.weight, model.head[0].weight]
    )
    assert ids(exempt["params"]) == ids(
        [
            *(m.pos_embed for m in (model.encoder, model.copy)),
            *(m.cls_token for m in (model.encoder, model.copy)),
            *(m.proj.bias for m in (model.encoder, model.copy)),
            *(p for m in (model.encoder, model.copy) for p in m.norm.parameters()),
            model.head[0].bias,
        ]
    )
    everything = [p for g in opt.param_groups for p in g["params"]]
    assert len(everything) == len(ids(everything))  # each parameter once, the shared one too
    assert not ids(everything) & ids(model.target.parameters())  # requires_grad=False: left out


def test_parameters_with_an_owner_give_the_same_groups() -> None:
    """The trainer's alternating schedule passes a subset of the task's parameters and the task."""
    model = TwoViTs()
    by_module = weight_decay_groups(model, 0.1)
    by_params = weight_decay_groups(model.parameters(), 0.1, owner=model)
    assert [ids(g["params"]) for g in by_module] == [ids(g["params"]) for g in by_params]
    without_owner = weight_decay_groups(model.parameters(), 0.1)  # the dim rule alone
    assert id(model.encoder.pos_embed) in ids(without_owner[0]["params"])
    subset = weight_decay_groups(model.copy.parameters(), 0.1, owner=model)
    assert ids(subset[1]["params"]) == ids(
        [model.copy.pos_embed, model.copy.cls_token, model.copy.proj.bias, *model.copy.norm.parameters()]
    )


def test_decay_exempt_accepts_a_submodule_name() -> None:
    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vit = TinyViT()

        def no_weight_decay(self) -> set[str]:
            return {"vit.proj"}

    wrapper = Wrapper()
    assert decay_exempt(wrapper) == ids(
        [wrapper.vit.proj.weight, wrapper.vit.proj.bias, wrapper.vit.pos_embed, wrapper.vit.cls_token]
    )


def test_lars_from_the_config_excludes_the_zero_decay_group() -> None:
    model = TwoViTs()
    opt = make_optimizer(
        model, TrainConfig(steps=1, optimizer="lars", lr=0.3, momentum=0.8, weight_decay=0.01, lars_eta=0.02)
    )
    assert isinstance(opt, LARS)
    decay, exempt = opt.param_groups
    assert (decay["lars_exclude"], exempt["lars_exclude"]) == (False, True)
    assert (decay["momentum"], decay["lr"], decay["weight_decay"], decay["eta"]) == (0.8, 0.3, 0.01, 0.02)
    assert make_optimizer(model, TrainConfig(steps=1, optimizer="lars")).param_groups[0]["eta"] == 0.001
    assert id(model.encoder.pos_embed) in ids(exempt["params"])
