"""MAE (He et al. 2022): patch bookkeeping, the hidden-patch loss, options and training."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from timm.models.vision_transformer import Block

import sslcore.plugins.manager as manager
from sslcore import ConfigError, Paradigm
from sslcore.build import build_task
from sslcore.cli import main
from sslcore.testing.steps import train_steps
from sslcore_vision.batched import StackedImages
from sslcore_vision.decoders import MAEDecoder
from sslcore_vision.masks import gather_tokens, hidden_patch_mse, kept_patches, random_patch_shuffle
from sslcore_vision.patches import normalise_patches, patchify, unpatchify

SMALL_DECODER = {"decoder_embed_dim": 16, "decoder_depth": 1, "decoder_num_heads": 2}


class TinyViT(torch.nn.Module):
    """The token API MAE needs, as sslcore_vision.encoders.vit has it: ``tokens(images, keep)``
    -> final-normed ``[B, 1 + K, D]`` ([CLS] first, positions added before dropping)."""

    def __init__(self, image_size: int = 16, patch_size: int = 4, in_channels: int = 1, dim: int = 16):
        super().__init__()
        self.patch_size, self.in_channels = patch_size, in_channels
        self.grid = (image_size // patch_size, image_size // patch_size)
        self.num_patches = self.grid[0] * self.grid[1]
        self.embed_dim = self.output_dim = dim
        self.patch_embed = torch.nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = torch.nn.Parameter(0.02 * torch.randn(1, 1 + self.num_patches, dim))
        self.block = Block(dim, num_heads=2, qkv_bias=True)
        self.norm = torch.nn.LayerNorm(dim)
        self.kept: list[int] = []  # tokens per image each call saw, [CLS] left out

    def tokens(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        x = self.patch_embed(images).flatten(2).transpose(1, 2) + self.pos_embed[:, 1:]
        if keep is not None:
            x = gather_tokens(x, keep)
        self.kept.append(x.shape[1])
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(len(x), -1, -1)
        return self.norm(self.block(torch.cat([cls, x], dim=1)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.tokens(images)[:, 0]


@pytest.fixture
def make_mae(registry, digits_bundle):
    """``make(seed=0, encoder=None, **options)``: MAE on digits with a small decoder and a
    :class:`TinyViT` (4x4 patches of the 16x16 images: 16 patches)."""

    def make(seed: int = 0, encoder=None, **options):
        torch.manual_seed(seed)
        encoder = encoder if encoder is not None else TinyViT()
        return build_task("mae", digits_bundle, encoder, {**SMALL_DECODER, **options}, registry=registry)

    return make


# -- patches and masks -----------------------------------------------------------------


def test_patchify_orders_patches_row_major_with_pixels_row_column_channel():
    images = torch.arange(2 * 3 * 8 * 12, dtype=torch.float32).view(2, 3, 8, 12)
    patches = patchify(images, 4)
    assert patches.shape == (2, 2 * 3, 4 * 4 * 3)
    row, col = 1, 2  # patch 5
    expected = images[:, :, 4 * row : 4 * row + 4, 4 * col : 4 * col + 4].permute(0, 2, 3, 1).flatten(1)
    assert torch.equal(patches[:, 5], expected)


def test_unpatchify_inverts_patchify():
    images = torch.randn(3, 2, 12, 8)
    assert torch.equal(unpatchify(patchify(images, 4), 4, (3, 2)), images)
    patches = torch.randn(3, 6, 32)
    assert torch.equal(patchify(unpatchify(patches, 4, (3, 2)), 4), patches)
    with pytest.raises(ValueError, match="not a whole number"):
        patchify(torch.randn(1, 1, 10, 8), 4)


def test_normalised_patches_have_zero_mean_and_unit_variance_per_patch():
    patches = 3 + 2 * torch.randn(4, 9, 48)
    target = normalise_patches(patches)
    assert torch.allclose(target.mean(-1), torch.zeros(4, 9), atol=1e-5)
    assert torch.allclose(target.var(-1), torch.ones(4, 9), atol=1e-4)
    assert torch.equal(normalise_patches(torch.ones(1, 2, 16)), torch.zeros(1, 2, 16))  # flat patch: 0


def test_kept_patches_round_down_like_the_paper():
    assert [kept_patches(n, 0.75) for n in (16, 49, 196, 10)] == [4, 12, 49, 2]
    assert kept_patches(4, 0.8) == 0


def test_a_patch_shuffle_keeps_k_hides_the_rest_and_restore_unshuffles_exactly():
    generator = torch.Generator().manual_seed(0)
    shuffle = random_patch_shuffle(8, 16, 4, generator=generator)
    assert shuffle.keep.shape == (8, 4) and shuffle.restore.shape == shuffle.hidden.shape == (8, 16)
    assert (shuffle.hidden.sum(1) == 12).all()
    for keep, hidden in zip(shuffle.keep, shuffle.hidden):
        assert set(keep.tolist()) == set((~hidden).nonzero().flatten().tolist())
    assert len({tuple(k.tolist()) for k in shuffle.keep}) > 1  # every image its own draw

    tokens = torch.randn(8, 16, 5)
    order = shuffle.restore.argsort(1)  # the shuffled order: kept first, then the hidden ones
    assert torch.equal(order[:, :4], shuffle.keep)
    shuffled = gather_tokens(tokens, order)
    assert torch.equal(gather_tokens(shuffled, shuffle.restore), tokens)
    with pytest.raises(ValueError, match="num_keep"):
        random_patch_shuffle(2, 16, 0)


def test_the_loss_counts_hidden_patches_only():
    shuffle = random_patch_shuffle(4, 16, 4, generator=torch.Generator().manual_seed(1))
    prediction, target = torch.randn(4, 16, 12), torch.randn(4, 16, 12)
    loss = hidden_patch_mse(prediction, target, shuffle.hidden)
    expected = ((prediction - target) ** 2).mean(-1)[shuffle.hidden].mean()
    assert torch.allclose(loss, expected)
    visible_changed = torch.where(shuffle.hidden[..., None], prediction, prediction + 10)
    assert torch.equal(hidden_patch_mse(visible_changed, target, shuffle.hidden), loss)
    hidden_changed = torch.where(shuffle.hidden[..., None], prediction + 1, prediction)
    assert hidden_patch_mse(hidden_changed, target, shuffle.hidden) > loss


def test_the_decoder_puts_mask_tokens_at_the_hidden_patches_in_patch_order():
    torch.manual_seed(0)
    decoder = MAEDecoder(8, (4, 4), 12, embed_dim=16, depth=0, num_heads=2)
    decoder.norm = torch.nn.Identity()
    shuffle = random_patch_shuffle(2, 16, 4, generator=torch.Generator().manual_seed(2))
    out = decoder(torch.randn(2, 5, 8), shuffle.restore)
    assert out.shape == (2, 16, 12)
    # without blocks, a hidden patch's output is the mask token plus its position embedding
    at_hidden = decoder.predict(decoder.mask_token + decoder.pos_embed[:, 1:]).expand(2, -1, -1)
    assert torch.allclose(out[shuffle.hidden], at_hidden[shuffle.hidden], atol=1e-6)
    assert not torch.allclose(out[~shuffle.hidden], at_hidden[~shuffle.hidden])
    with pytest.raises(ValueError, match="multiple of 4"):
        MAEDecoder(8, (4, 4), 12, embed_dim=18, num_heads=2)


# -- the task ------------------------------------------------------------------------------


def test_registered_as_generative_with_vit_tiny_and_the_papers_mask_ratio(registry, make_mae):
    spec = registry.task("mae")
    assert spec.paradigm is Paradigm.GENERATIVE and spec.default_encoder == "vit_tiny"
    assert spec.recipe.task_options == {"mask_ratio": 0.75}
    task = make_mae()
    assert (task.mask_ratio, task.num_patches, task.num_keep, task.norm_pix_loss) == (0.75, 16, 4, True)
    assert task.decoder.predict.out_features == 4 * 4 * 1


def test_the_encoder_sees_the_kept_patches_and_the_loss_is_on_normalised_hidden_pixels(
    make_mae, digits_bundle, samples
):
    task = make_mae()
    images = task.collate(samples(digits_bundle, 8))
    assert images.shape == (8, 1, 16, 16) and images.dtype == torch.float32
    torch.manual_seed(3)
    out = task(images)
    assert task.encoder.kept == [4]
    torch.manual_seed(3)
    shuffle = random_patch_shuffle(8, 16, 4)
    target = normalise_patches(patchify(images, 4))
    assert torch.equal(task.targets(images), target)
    with torch.no_grad():
        expected = hidden_patch_mse(task.predict(images, shuffle), target, shuffle.hidden)
    assert torch.allclose(out.loss, expected, atol=1e-6)
    assert out.metrics["masked_fraction"] == pytest.approx(0.75)
    raw = make_mae(norm_pix_loss=False)
    assert torch.equal(raw.targets(images), patchify(images, 4))


def test_embed_is_the_cls_token_of_the_whole_image(make_mae, digits_bundle, eval_images):
    task = make_mae()
    images = eval_images(digits_bundle)
    task.eval()
    task.encoder.kept.clear()
    with torch.no_grad():
        z = task.embed(images)
    assert z.shape == (10, 16) and torch.equal(z, task.encoder.tokens(images)[:, 0])
    assert task.encoder.kept[0] == 16  # no masking


def test_views_are_cropped_and_flipped_on_the_cpu_or_the_device(
    make_mae, digits_bundle, samples, eval_images
):
    batch = samples(digits_bundle, 16)
    on_cpu = make_mae(augment_on="cpu").collate(batch)
    assert not torch.allclose(on_cpu, eval_images(digits_bundle, 16))
    task = make_mae(augment_on="device")
    stacked = task.collate(batch)
    assert isinstance(stacked, StackedImages) and stacked.images.dtype == torch.uint8
    drawn = task.on_after_batch_transfer(stacked)
    assert drawn.shape == on_cpu.shape and drawn.dtype == torch.float32
    assert torch.isfinite(task(stacked).loss)


def test_a_few_steps_lower_the_loss_on_fixed_masks(make_mae, digits_bundle, samples):
    task = make_mae()
    images = task.collate(samples(digits_bundle))
    shuffle = random_patch_shuffle(len(images), 16, 4, generator=torch.Generator().manual_seed(0))
    target = task.targets(images)

    def loss(step: int) -> torch.Tensor:
        return hidden_patch_mse(task.predict(images, shuffle), target, shuffle.hidden)

    losses = train_steps(loss, task, steps=15, lr=2e-3, optimizer=torch.optim.AdamW)
    assert all(map(math.isfinite, losses)) and losses[-1] < 0.8 * losses[0]


def test_trains_in_the_trainer_and_its_state_restores(make_mae, digits_bundle, samples, fit):
    task = make_mae()
    fit(task, samples(digits_bundle), warmup=0.0)
    fresh = make_mae(seed=1)
    fresh.load_state_dict(task.state_dict())
    images = torch.randn(4, 1, 16, 16)
    shuffle = random_patch_shuffle(4, 16, 4)
    task.eval(), fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh.predict(images, shuffle), task.predict(images, shuffle))


def test_with_the_registered_vit(registry, digits_bundle, samples):
    vit = {"embed_dim": 32, "depth": 1, "num_heads": 2}
    task = build_task("mae", digits_bundle, "vit", SMALL_DECODER, vit, registry=registry)
    assert (task.patch_size, task.num_patches, task.num_keep) == (4, 16, 4)
    out = task(task.collate(samples(digits_bundle, 8)))
    out.loss.backward()
    assert torch.isfinite(out.loss) and task.encoder.vit.patch_embed.proj.weight.grad.abs().sum() > 0


# -- options and encoders ------------------------------------------------------------------


@pytest.mark.parametrize("ratio", [0.0, 1.0, 1.5, -0.2])
def test_a_mask_ratio_outside_the_open_unit_interval_is_a_config_error(registry, digits_bundle, ratio):
    with pytest.raises(ConfigError, match=r"mask_ratio.*must be in \(0, 1\)"):
        build_task("mae", digits_bundle, TinyViT(), {"mask_ratio": ratio}, registry=registry)


def test_the_cli_rejects_a_mask_ratio_before_writing_the_run(registry, monkeypatch, tmp_path: Path, capsys):
    monkeypatch.setattr(manager, "_DEFAULT", registry)
    run = tmp_path / "run"
    argv = ["pretrain", "mae", "--dataset", "digits", "--steps", "1", "--no-progress", "--output", str(run)]
    assert main([*argv, "--task-opt", "mask_ratio=1.5"]) == 2
    assert "task 'mae' option mask_ratio=1.5: must be in (0, 1)" in capsys.readouterr().err
    assert not (run / "config.json").exists()


def test_a_mask_ratio_that_keeps_no_patch_names_the_largest_that_works(make_mae):
    with pytest.raises(ConfigError, match=r"keeps int\(16 \* \(1 - 0.95\)\) = 0 .* mask_ratio <= 0.93"):
        make_mae(mask_ratio=0.95)
    assert make_mae(mask_ratio=0.93).num_keep == 1


def test_an_encoder_without_tokens_is_a_config_error_naming_the_vit(registry, digits_bundle):
    with pytest.raises(ConfigError, match="--encoder vit_tiny"):
        build_task("mae", digits_bundle, "small_cnn", registry=registry)


def test_an_encoder_built_for_other_images_or_a_bad_decoder_is_a_config_error(make_mae):
    with pytest.raises(ConfigError, match=r"cuts 32x32 images .* 16x16"):
        make_mae(encoder=TinyViT(image_size=32))
    with pytest.raises(ConfigError, match="decoder_num_heads"):
        make_mae(decoder_embed_dim=16, decoder_num_heads=3)
    with pytest.raises(ConfigError, match="decoder_embed_dim"):
        make_mae(decoder_embed_dim=18, decoder_num_heads=2)
