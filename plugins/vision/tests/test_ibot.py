"""iBOT: masks of the global crops, the mask token, the [CLS] and patch losses, the two
centres, the collapse metrics, and the encoders it runs on (a ViT's tokens, a CNN's
feature-map cells with masking in pixel space)."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import sslcore_vision.tasks.ibot as ibot_module
from sslcore import ConfigError, Paradigm
from sslcore.build import build_encoder, build_task, task_option_specs
from sslcore.contrast import update_center
from sslcore.testing.steps import train_steps
from sslcore_vision.tasks.dino import teacher_entropy
from sslcore_vision.tasks.ibot import IBOT, image_tokens, mask_cells, mask_ratios, patch_masks

SMALL = {"out_dim": 64, "hidden_dim": 32, "bottleneck_dim": 16}
#: the small CNN with a stride-1 stem: 16 x 16 digits -> a 2 x 2 last map, cells of 8 x 8 pixels
CNN = {"width": 8, "output_dim": 32, "stem_stride": 1}


class TinyViT(nn.Module):
    """The ViT token API iBOT uses (``sslcore_vision.encoders.vit``), tiny: ``tokens(images,
    mask=None) -> [B, 1 + N, D]`` with masked patches replaced by ``mask_token``; records
    each call's input shape and mask."""

    def __init__(self, in_channels: int = 1, dim: int = 16, patch_size: int = 4):
        super().__init__()
        self.in_channels, self.output_dim, self.patch_size = in_channels, dim, patch_size
        self.embed = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.mask_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.block = nn.TransformerEncoderLayer(dim, 2, 2 * dim, dropout=0.0, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.calls: list[tuple[tuple[int, ...], Tensor | None]] = []

    def tokens(self, images: Tensor, mask: Tensor | None = None) -> Tensor:
        self.calls.append((tuple(images.shape), mask))
        x = self.embed(images).flatten(2).transpose(1, 2)  # [B, N, D]
        if mask is not None:
            x = torch.where(mask.unsqueeze(-1), self.mask_token, x)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1)
        return self.norm(self.block(x))

    def forward(self, images: Tensor) -> Tensor:
        return self.tokens(images)[:, 0]


@pytest.fixture
def make_ibot(registry, digits_bundle):
    """``make(seed=0, encoder=None, **options)``: iBOT on digits (16 x 16: a 4 x 4 patch grid)
    with a small head and a :class:`TinyViT`."""

    def make(seed: int = 0, encoder: nn.Module | None = None, **options):
        torch.manual_seed(seed)
        encoder = encoder if encoder is not None else TinyViT()
        return build_task(
            "ibot", digits_bundle, encoder=encoder, task_options={**SMALL, **options}, registry=registry
        )

    return make


@pytest.fixture
def make_cnn_ibot(registry, digits_bundle):
    """``make(seed=0, **options)``: iBOT on digits with a small head and the small CNN
    (:data:`CNN`, a 2 x 2 cell grid)."""

    def make(seed: int = 0, **options):
        torch.manual_seed(seed)
        return build_task(
            "ibot",
            digits_bundle,
            encoder="small_cnn",
            encoder_options=CNN,
            task_options={**SMALL, **options},
            registry=registry,
        )

    return make


def batch(task, bundle, samples, n: int = 16) -> tuple[Tensor, ...]:
    return task.collate(samples(bundle, n))


def test_registered_with_the_vit_and_its_options(registry):
    spec = registry.task("ibot")
    assert spec.paradigm is Paradigm.CONTRASTIVE and spec.default_encoder == "vit_tiny"
    assert (IBOT.family, IBOT.negatives) == ("instance-instance", "none")
    defaults = {name: option.default for name, option in task_option_specs(IBOT).items()}
    assert defaults["mask_ratio"] == (0.1, 0.5) and defaults["mask_probability"] == 0.5
    assert defaults["mask_shape"] == "block" and defaults["patch_loss_weight"] == 1.0
    assert defaults["teacher_temperature"] == 0.04 and defaults["patch_teacher_temperature"] == 0.07
    assert defaults["num_local"] == 2 and defaults["global_scale"] == (0.25, 1.0)
    assert "tokens(" in IBOT.encoder_requirements and "feature_map()" in IBOT.encoder_requirements


class Flat(nn.Module):
    """An encoder with neither ``tokens`` nor ``feature_map``."""

    in_channels, output_dim = 1, 8

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(256, 8)

    def forward(self, images: Tensor) -> Tensor:
        return self.linear(images.flatten(1))


class ThreeByThree(nn.Module):
    """A CNN whose last map is 3 x 3 for any image (16 x 16: cells of unequal sides)."""

    in_channels, output_dim = 1, 8

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)

    def feature_map(self, images: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(self.conv(images), 3)

    def forward(self, images: Tensor) -> Tensor:
        return self.feature_map(images).mean(dim=(2, 3))


def test_an_encoder_without_tokens_or_feature_map_is_a_config_error(registry, digits_bundle):
    with pytest.raises(
        ConfigError,
        match=r"ibot needs a ViT encoder with tokens\(\) and patch_size or a CNN with feature_map\(\) "
        r"\(got Flat, which has neither\); use --encoder vit_tiny or --encoder small_cnn",
    ):
        build_task("ibot", digits_bundle, encoder=Flat(), registry=registry)


def test_a_cnn_map_of_one_cell_or_unequal_cells_is_a_config_error(make_cnn_ibot, registry, digits_bundle):
    with pytest.raises(
        ConfigError, match=r"16x16 image is 1x1, a single cell: nothing to mask.*stem_stride=1"
    ):
        build_task(
            "ibot",
            digits_bundle,
            encoder="small_cnn",
            encoder_options={"width": 8, "output_dim": 32},  # stride-2 stem: 16 -> 8, 4, 2, 1
            task_options=SMALL,
            registry=registry,
        )
    with pytest.raises(ConfigError, match=r"3x3 feature map does not split the 16x16 image into equal cells"):
        build_task("ibot", digits_bundle, encoder=ThreeByThree(), task_options=SMALL, registry=registry)
    # built directly (no from_data, no image size): the first batch finds the grid
    task = make_cnn_ibot()
    with pytest.raises(ConfigError, match=r"3x3 feature map does not split the 16x16 image"):
        IBOT(ThreeByThree(), task.views.augmentations[0], task.views.augmentations[-1], **SMALL)(
            (torch.zeros(2, 1, 16, 16),) * 3
        )


def test_a_cnns_tokens_are_its_map_cells_after_its_pooled_output(make_cnn_ibot):
    task = make_cnn_ibot()
    assert task._cell_grids == {(16, 16): (2, 2)}  # the dry run at construction
    batch_norm = task.encoder.features[0][1]
    assert task.encoder.training and batch_norm.training  # modes restored after the dry run
    assert int(batch_norm.num_batches_tracked) == 0 and batch_norm.running_mean.abs().sum() == 0
    encoder = task.encoder.eval()
    images = torch.randn(3, 1, 16, 16)
    tokens, fmap = image_tokens(encoder, images), encoder.feature_map(images)
    assert tokens.shape == (3, 1 + 4, 32) and fmap.shape == (3, 32, 2, 2)
    assert torch.allclose(tokens[:, 0], encoder(images), atol=1e-6)  # [CLS]: the pooled output
    assert [torch.equal(tokens[:, 1 + i], fmap[:, :, i // 2, i % 2]) for i in range(4)] == [True] * 4


def test_mask_cells_zeroes_exactly_the_masked_cells():
    images = torch.rand(2, 3, 8, 12) + 1  # no zero pixel
    masks = torch.tensor([[True, False, False, False, False, True], [False] * 6])  # 2 x 3 cells of 4 x 4
    expected = images.clone()
    expected[0, :, :4, :4] = 0
    expected[0, :, 4:, 8:] = 0
    assert torch.equal(mask_cells(images, masks, (2, 3)), expected)


def test_on_a_cnn_the_student_sees_zeroed_cells_and_the_teacher_the_full_crops(
    make_cnn_ibot, digits_bundle, samples, monkeypatch
):
    task = make_cnn_ibot(mask_probability=1.0, mask_ratio=(0.25, 0.5))
    views = batch(task, digits_bundle, samples)
    crops = torch.cat(views[:2])
    seen = {"student": [], "teacher": []}
    for name, encoder in (("student", task.encoder), ("teacher", task.teacher.network[0])):
        encoder.features[0].register_forward_pre_hook(lambda m, a, k=name: seen[k].append(a[0].clone()))
    drawn, draw = [], task.draw_masks
    monkeypatch.setattr(task, "draw_masks", lambda images: drawn.append(draw(images)) or drawn[-1])
    out = task(views)
    (masks,), (student_globals, student_locals), (teacher_globals,) = drawn, seen["student"], seen["teacher"]
    assert masks.shape == (32, 4) and masks.sum(dim=1).min() >= 1 and masks.sum(dim=1).max() <= 2
    pixels = masks.view(32, 1, 2, 2).repeat_interleave(8, dim=2).repeat_interleave(8, dim=3)
    assert crops.masked_select(pixels).ne(0).any()  # the masked cells had content
    assert torch.equal(student_globals, crops.masked_fill(pixels, 0.0))  # zero there, untouched elsewhere
    assert student_locals.shape == (32, 1, 7, 7)  # local crops unmasked ([CLS] only)
    assert torch.equal(teacher_globals, crops)  # the teacher sees the full crops
    assert out.metrics["mask_ratio"] == pytest.approx(masks.float().mean().item())


def test_on_a_cnn_the_patch_loss_reaches_only_the_masked_cells(
    make_cnn_ibot, digits_bundle, samples, monkeypatch
):
    task = make_cnn_ibot(mask_ratio=(0.25, 0.5))  # half the crops masked (mask_probability 0.5)
    views = batch(task, digits_bundle, samples)
    outputs, drawn, draw = [], [], task.draw_masks
    monkeypatch.setattr(task, "draw_masks", lambda images: drawn.append(draw(images)) or drawn[-1])

    def keep_tokens(module, inputs, output):
        if output.dim() == 3:  # the student's global-crop tokens [G N, 1 + P, K] (locals: [CLS] only)
            output.retain_grad()
            outputs.append(output)

    task.head.register_forward_hook(keep_tokens)
    task(views).loss.backward()
    (masks,), (student,) = drawn, outputs
    assert student.shape == (32, 5, 64) and (~masks.any(dim=1)).any() and masks.any()
    reached = student.grad[:, 1:].abs().sum(dim=-1) > 0  # [G N, P]: only the patch loss uses them
    assert torch.equal(reached, masks)


def test_collapse_metrics_of_both_teachers_on_a_cnn(make_cnn_ibot, digits_bundle, samples):
    task = make_cnn_ibot(teacher_temperature=0.06, patch_teacher_temperature=0.08)
    views = batch(task, digits_bundle, samples, 8)
    task(views)
    task.on_train_step_end(0.5)  # past the warm-up; the centres move off zero
    out = task(views)
    teacher_encoder, teacher_head = task.teacher.network
    with torch.no_grad():
        teacher = teacher_head(image_tokens(teacher_encoder, torch.cat(views[:2])))
    for name, tokens, center, tau in (
        ("teacher", teacher[:, 0], task.center, 0.06),
        ("patch_teacher", teacher[:, 1:], task.patch_center, 0.08),
    ):
        entropy = out.metrics[f"{name}_entropy"]
        assert isinstance(entropy, Tensor) and entropy.dim() == 0 and not entropy.requires_grad
        assert torch.isfinite(entropy) and 0 <= entropy.item() <= math.log(64)
        assert entropy.item() == pytest.approx(teacher_entropy(tokens, center, tau).item(), rel=1e-5)
        assert out.metrics[f"{name}_temperature"] == pytest.approx(tau)


@pytest.mark.parametrize("shape", ["block", "random"])
def test_masks_hide_exactly_the_drawn_share_of_patches(shape):
    torch.manual_seed(0)
    ratios = torch.tensor([0.0, 0.1, 0.3, 0.5, 0.45, 0.26])
    masks = patch_masks(ratios, (8, 8), shape)
    assert masks.shape == (6, 64) and masks.dtype == torch.bool
    assert masks.sum(dim=1).tolist() == [int(r * 64) for r in ratios.tolist()]


def test_block_masks_are_blocks():
    """Masked patches of the block shape have more masked 4-neighbours than random ones."""
    torch.manual_seed(0)
    ratios = torch.full((200,), 0.3)

    def neighbours(masks: Tensor) -> float:
        grid = masks.view(-1, 1, 8, 8).float()
        kernel = torch.tensor([[0.0, 1, 0], [1, 0, 1], [0, 1, 0]]).view(1, 1, 3, 3)
        around = nn.functional.conv2d(grid, kernel, padding=1)
        return float((around * grid).sum() / grid.sum())

    assert (
        neighbours(patch_masks(ratios, (8, 8), "block"))
        > neighbours(patch_masks(ratios, (8, 8), "random")) + 1
    )


def test_mask_ratios_are_zero_or_in_the_range():
    torch.manual_seed(0)
    ratios = mask_ratios(4000, (0.1, 0.5), 0.5, torch.device("cpu"))
    drawn = ratios[ratios > 0]
    assert 0.45 < len(drawn) / len(ratios) < 0.55
    assert drawn.min() >= 0.1 and drawn.max() <= 0.5
    assert mask_ratios(10, (0.1, 0.5), 0.0, torch.device("cpu")).eq(0).all()


def test_only_the_students_global_crops_are_masked_with_the_mask_token(make_ibot, digits_bundle, samples):
    task = make_ibot(mask_probability=1.0, num_local=3)
    views = batch(task, digits_bundle, samples)
    student, teacher = task.encoder, task.teacher.network[0]
    student.calls, teacher.calls = [], []
    out = task(views)
    (global_shape, masks), (local_shape, local_mask) = student.calls
    assert global_shape == (32, 1, 16, 16) and local_shape == (48, 1, 7, 7) and local_mask is None
    hidden = masks.sum(dim=1)
    assert masks.shape == (32, 16) and hidden.min() >= int(0.1 * 16) and hidden.max() <= int(0.5 * 16)
    assert [(shape, mask) for shape, mask in teacher.calls] == [((32, 1, 16, 16), None)]  # unmasked
    assert out.metrics["mask_ratio"] == pytest.approx(hidden.sum().item() / masks.numel())
    out.loss.backward()
    assert student.mask_token.grad is not None and student.mask_token.grad.abs().sum() > 0
    assert all(p.grad is None for p in task.teacher.parameters())


def test_half_the_crops_stay_unmasked_by_default(make_ibot, digits_bundle, samples):
    task = make_ibot()
    views = batch(task, digits_bundle, samples, 64)
    task.encoder.calls = []
    task(views)
    hidden = task.encoder.calls[0][1].sum(dim=1)
    assert 0.3 < (hidden == 0).float().mean() < 0.7 and hidden.max() <= 8


def test_losses_are_dinos_cls_loss_plus_the_weighted_patch_loss(
    make_ibot, digits_bundle, samples, monkeypatch
):
    task = make_ibot(patch_loss_weight=0.5, teacher_temperature=0.06, patch_teacher_temperature=0.08)
    views = batch(task, digits_bundle, samples, 8)
    calls = {}
    for name in ("dino_loss", "ibot_patch_loss"):
        kernel = getattr(ibot_module, name)
        monkeypatch.setattr(
            ibot_module, name, lambda *a, k=kernel, n=name: calls.setdefault(n, a) is not None and k(*a)
        )
    task.on_train_step_end(0.5)  # past the warm-up
    out = task(views)
    cls_args, patch_args = calls["dino_loss"], calls["ibot_patch_loss"]
    assert len(cls_args[0]) == 4 and len(cls_args[1]) == 2  # V = 2 + 2 student [CLS], G = 2 teacher
    assert [tuple(t.shape) for t in patch_args[0]] == [(8, 16, 64)] * 2 and len(patch_args[2]) == 2
    assert cls_args[4] == pytest.approx(0.06) and patch_args[5] == pytest.approx(0.08)
    assert patch_args[3] is task.patch_center
    total = out.metrics["cls_loss"] + 0.5 * out.metrics["patch_loss"]
    assert out.loss.item() == pytest.approx(total.item(), rel=1e-6)


def test_both_centres_move_only_in_the_step_callback(make_ibot, digits_bundle, samples):
    task = make_ibot()
    views = batch(task, digits_bundle, samples, 8)
    task(views)
    assert task.center.abs().sum() == 0 and task.patch_center.abs().sum() == 0
    teacher_encoder, teacher_head = task.teacher.network
    with torch.no_grad():
        outputs = teacher_head(teacher_encoder.tokens(torch.cat(views[:2])))
    task.on_train_step_end(0.1)
    assert torch.allclose(task.center, update_center(torch.zeros(1, 64), outputs[:, 0], 0.9), atol=1e-6)
    patch_mean = outputs[:, 1:].reshape(-1, 64).mean(0, keepdim=True)
    assert torch.allclose(task.patch_center, 0.1 * patch_mean, atol=1e-6)


def test_a_few_steps_lower_both_losses_against_a_fixed_teacher(make_ibot, digits_bundle, samples):
    task = make_ibot(base_momentum=1.0, center_momentum=1.0)
    views = batch(task, digits_bundle, samples, 32)
    torch.manual_seed(0)
    metrics = []

    def loss(step: int):
        out = task(views)
        metrics.append((out.metrics["cls_loss"].item(), out.metrics["patch_loss"].item()))
        return out

    train_steps(loss, task, steps=30, lr=1e-3, after_step=lambda step: task.on_train_step_end(step / 30))
    for i, name in enumerate(("cls", "patch")):
        first, last = (sum(m[i] for m in part) / 5 for part in (metrics[:5], metrics[-5:]))
        assert last < first - 0.1, name


def test_a_few_steps_lower_both_losses_on_a_cnn_against_a_fixed_teacher(
    make_cnn_ibot, digits_bundle, samples
):
    task = make_cnn_ibot(base_momentum=1.0, center_momentum=1.0, mask_probability=1.0, mask_ratio=(0.25, 0.5))
    views = batch(task, digits_bundle, samples, 32)
    torch.manual_seed(0)
    metrics = []

    def loss(step: int):
        out = task(views)
        metrics.append((out.metrics["cls_loss"].item(), out.metrics["patch_loss"].item()))
        return out

    train_steps(loss, task, steps=20, lr=1e-3, after_step=lambda step: task.on_train_step_end(step / 20))
    for i, name in enumerate(("cls", "patch")):
        first, last = (sum(m[i] for m in part) / 5 for part in (metrics[:5], metrics[-5:]))
        assert last < first - 0.1, name


def test_state_dict_round_trip_keeps_both_centres_and_the_progress(make_ibot, digits_bundle, samples):
    task = make_ibot()
    views = batch(task, digits_bundle, samples, 8)
    task(views)
    task.on_train_step_end(0.3)
    buffer = io.BytesIO()
    torch.save(task.state_dict(), buffer)
    buffer.seek(0)
    fresh = make_ibot(seed=1)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(fresh.center, task.center) and torch.equal(fresh.patch_center, task.patch_center)
    assert fresh.patch_center.abs().sum() > 0 and fresh._progress == pytest.approx(0.3)
    assert fresh.patch_teacher_temperature_at() == pytest.approx(task.patch_teacher_temperature_at())


def test_trains_with_the_vit_encoder(registry, digits_bundle, samples, fit):
    torch.manual_seed(0)
    encoder = build_encoder(
        "vit", digits_bundle.info, {"embed_dim": 16, "depth": 1, "num_heads": 2}, registry
    )
    task = build_task("ibot", digits_bundle, encoder=encoder, task_options=SMALL, registry=registry)
    fit(task, samples(digits_bundle), warmup=0.0)
    assert task._steps_done == 2 and task.patch_center.abs().sum() > 0


def test_trains_with_the_small_cnn(make_cnn_ibot, digits_bundle, samples, fit):
    task = make_cnn_ibot()
    fit(task, samples(digits_bundle), warmup=0.0)
    assert task._steps_done == 2 and task.patch_center.abs().sum() > 0
