"""DINO's and iBOT's self-distillation losses and the centre's EMA against plain references."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sslcore.contrast import dino_loss, ibot_patch_loss, update_center

N, K, P = 5, 7, 4


def logits(views: int, *shape: int, seed: int = 0, grad: bool = False) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_(grad) for _ in range(views)]


def reference_dino(students, teachers, center, tau_s, tau_t) -> torch.Tensor:
    """The reference ``DINOLoss.forward`` (Caron et al. 2021), written out per pair and sample."""
    total, terms = 0.0, 0
    for a, t in enumerate(teachers):
        q = torch.softmax((t.detach() - center) / tau_t, dim=-1)
        for v, s in enumerate(students):
            if v == a:
                continue
            per_sample = [-(q[i] * torch.log_softmax(s[i] / tau_s, dim=-1)).sum() for i in range(len(s))]
            total = total + torch.stack(per_sample).mean()
            terms += 1
    return total / terms


def reference_patch(students, teachers, masks, center, tau_s, tau_t) -> torch.Tensor:
    """The reference ``iBOTLoss`` patch term (Zhou et al. 2022): per image, the masked tokens' mean."""
    total = 0.0
    for s, t, m in zip(students, teachers, masks):
        per_image = []
        for i in range(len(s)):
            q = torch.softmax((t[i].detach() - center.reshape(-1)) / tau_t, dim=-1)
            cross = -(q * torch.log_softmax(s[i] / tau_s, dim=-1)).sum(dim=-1)  # [P]
            per_image.append((cross * m[i]).sum() / max(float(m[i].sum()), 1.0))
        total = total + torch.stack(per_image).mean()
    return total / len(students)


@pytest.mark.parametrize("views,teacher_views", [(2, 2), (5, 2), (4, 1), (6, 3)])
def test_dino_loss_matches_the_reference_in_value_and_gradient(views, teacher_views):
    students = logits(views, N, K, grad=True)
    teachers = logits(teacher_views, N, K, seed=1, grad=True)
    center = torch.randn(1, K, dtype=torch.float64)
    loss = dino_loss(students, teachers, center, 0.1, 0.04)
    expected = reference_dino(students, teachers, center, 0.1, 0.04)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-10)
    grads = torch.autograd.grad(loss, students, allow_unused=True, materialize_grads=True)
    expected_grads = torch.autograd.grad(expected, students, allow_unused=True, materialize_grads=True)
    for got, want in zip(grads, expected_grads, strict=True):
        assert torch.allclose(got, want, atol=1e-12)


def test_dino_loss_skips_a_crop_as_its_own_target_and_sends_no_gradient_to_the_teacher():
    students = logits(3, N, K, grad=True)
    teachers = logits(1, N, K, seed=1, grad=True)
    loss = dino_loss(students, teachers, torch.zeros(1, K, dtype=torch.float64))
    loss.backward()
    assert students[0].grad is None  # view 0 is the teacher's crop: only pairs (0, 1), (0, 2)
    assert students[1].grad.abs().max() > 0 and students[2].grad.abs().max() > 0
    assert teachers[0].grad is None
    pairs = [
        dino_loss([students[0], s], teachers, torch.zeros(1, K, dtype=torch.float64)) for s in students[1:]
    ]
    assert loss.item() == pytest.approx(torch.stack(pairs).mean().item(), rel=1e-12)


def test_dino_loss_centres_and_sharpens_the_teacher():
    students, teachers = logits(2, N, K), logits(2, N, K, seed=1)
    center = torch.randn(1, K, dtype=torch.float64)
    shifted = [t - center for t in teachers]
    zero = torch.zeros(K, dtype=torch.float64)  # a [K] centre is accepted too
    assert dino_loss(students, teachers, center).item() == pytest.approx(
        dino_loss(students, shifted, zero).item(), rel=1e-12
    )
    same = [t.clone() for t in teachers]  # identical rows: only the sharpness of the target changes
    sharp, soft = (dino_loss(same, teachers, zero, 0.1, tau).item() for tau in (0.01, 10.0))
    assert sharp != pytest.approx(soft)


def test_dino_loss_low_precision_inputs_accumulate_in_float32():
    students = [s.to(torch.bfloat16) for s in logits(3, N, K)]
    teachers = [t.to(torch.bfloat16) for t in logits(2, N, K, seed=1)]
    loss = dino_loss(students, teachers, torch.zeros(1, K))
    assert loss.dtype == torch.float32
    exact = reference_dino(
        [s.double() for s in students], [t.double() for t in teachers], torch.zeros(1, K), 0.1, 0.04
    )
    assert loss.item() == pytest.approx(exact.item(), rel=1e-4)


@pytest.mark.parametrize(
    "students,teachers,center,match",
    [
        (1, 1, K, "V >= 2"),
        (2, 3, K, "G <= V"),
        (2, 2, K + 1, "center must hold 7 values"),
    ],
)
def test_dino_loss_rejects_bad_views(students, teachers, center, match):
    with pytest.raises(ValueError, match=match):
        dino_loss(logits(students, N, K), logits(teachers, N, K), torch.zeros(1, center, dtype=torch.float64))


def test_dino_loss_rejects_views_of_different_shapes_and_bad_temperatures():
    center = torch.zeros(1, K, dtype=torch.float64)
    with pytest.raises(ValueError, match="shape and device of student_logits"):
        dino_loss([*logits(1, N, K), *logits(1, N + 1, K)], logits(1, N, K), center)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        dino_loss(logits(2, N, K), logits(2, N, K), center, teacher_temperature=0.0)


def test_ibot_patch_loss_matches_the_reference_and_counts_unmasked_images_as_zero():
    students = logits(2, N, P, K, grad=True)
    teachers = logits(2, N, P, K, seed=1, grad=True)
    masks = [torch.rand(N, P, generator=torch.Generator().manual_seed(s)) < 0.5 for s in (2, 3)]
    masks[0][0] = False  # an image without masked patches: 0, but still counted in the mean
    center = torch.randn(1, 1, K, dtype=torch.float64)
    loss = ibot_patch_loss(students, teachers, masks, center, 0.1, 0.07)
    expected = reference_patch(students, teachers, masks, center, 0.1, 0.07)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-10)
    for got, want in zip(torch.autograd.grad(loss, students), torch.autograd.grad(expected, students)):
        assert torch.allclose(got, want, atol=1e-12)
    loss = ibot_patch_loss(students, teachers, masks, center)
    loss.backward()
    assert students[0].grad[0].abs().max() == 0 and teachers[0].grad is None
    assert (students[1].grad.abs().sum(-1) > 0).eq(masks[1]).all()  # only masked tokens get gradient


def test_ibot_patch_loss_rejects_masks_of_another_shape():
    with pytest.raises(ValueError, match=r"masks\[0\] must be a bool \[N, P\]"):
        ibot_patch_loss(
            logits(1, N, P, K),
            logits(1, N, P, K),
            [torch.ones(N, P + 1, dtype=torch.bool)],
            torch.zeros(1, K),
        )


def test_update_center_is_the_ema_of_the_teachers_batch_mean():
    center = torch.randn(1, K, dtype=torch.float64)
    views = logits(2, N, K)
    batch_mean = torch.cat(views).mean(dim=0, keepdim=True)
    new = update_center(center, views, momentum=0.9)
    assert torch.allclose(new, 0.9 * center + 0.1 * batch_mean)
    assert new.shape == center.shape and new is not center
    assert torch.equal(update_center(center, views, momentum=1.0), center)
    tokens = logits(1, N, P, K)[0]  # iBOT's patch centre: the mean over images and tokens
    assert torch.allclose(update_center(center, tokens, 0.0), tokens.reshape(-1, K).mean(0, keepdim=True))
    with pytest.raises(ValueError, match="momentum must be in"):
        update_center(center, views, momentum=1.5)
    with pytest.raises(ValueError, match=r"\[\.\.\., 7\]"):
        update_center(center, logits(1, N, K + 1))


ROWS = {0: 3, 1: 6}  # ranks hold different numbers of rows


def _center_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    every = logits(1, sum(ROWS.values()), K)[0]
    start = sum(ROWS[r] for r in range(rank))
    mine = every[start : start + ROWS[rank]]
    center = torch.zeros(1, K, dtype=torch.float64)
    results = {
        "global": update_center(center, mine, 0.5),
        "local": update_center(center, mine, 0.5, distributed=False),
    }
    torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_update_center_averages_over_every_process(tmp_path):
    mp.spawn(_center_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    every = logits(1, sum(ROWS.values()), K)[0]
    expected = 0.5 * every.mean(dim=0, keepdim=True)
    for rank, result in enumerate(results):
        assert torch.allclose(result["global"], expected)  # every rank: the same, global centre
        start = sum(ROWS[r] for r in range(rank))
        assert torch.allclose(result["local"], 0.5 * every[start : start + ROWS[rank]].mean(0, keepdim=True))
