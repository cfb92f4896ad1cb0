"""The ViT encoder (sslcore_vision.encoders.vit): shapes of its token API, the patch size,
fine-tuning facts and weights from local files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import sslcore_vision.plugin
from sslcore import ConfigError
from sslcore.build import build_dataset, build_encoder, build_task
from sslcore.compare.flops import step_losses
from sslcore_vision.encoders.vit import VisionTransformerEncoder, default_patch_size, vit

TINY = {"depth": 2, "embed_dim": 32, "num_heads": 2}
INFO = {"in_channels": 1, "image_size": 16}  # digits: 4x4 patches of 4 px
B, N, D = 3, 16, 32


@pytest.fixture(scope="module")
def encoder() -> VisionTransformerEncoder:
    torch.manual_seed(0)
    return vit(INFO, **TINY).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(B, 1, 16, 16, generator=torch.Generator().manual_seed(1))


def test_shapes_and_facts(encoder, images) -> None:
    assert (encoder.output_dim, encoder.embed_dim, encoder.in_channels) == (D, D, 1)
    assert (encoder.patch_size, encoder.grid, encoder.num_patches, encoder.num_layers) == (4, (4, 4), N, 2)
    keep = torch.stack([torch.randperm(N)[:5] for _ in range(B)])
    mask = torch.rand(B, N) < 0.5
    with torch.no_grad():
        assert encoder(images).shape == (B, D)
        assert encoder.tokens(images).shape == (B, 1 + N, D)
        assert encoder.tokens(images, keep=keep).shape == (B, 1 + 5, D)
        assert encoder.tokens(images, mask=mask).shape == (B, 1 + N, D)
        assert encoder.feature_map(images).shape == (B, D, 4, 4)
        maps = encoder.feature_maps(images)
    assert len(maps) == 1 and torch.equal(maps[0], encoder.feature_map(images))


def test_outputs_are_timms_forward_features(encoder, images) -> None:
    """``tokens`` is timm's ``forward_features``; ``forward`` its [CLS] row; ``feature_map``
    the patch rows on the grid (row-major)."""
    with torch.no_grad():
        reference = encoder.vit.forward_features(images)
        tokens = encoder.tokens(images)
        torch.testing.assert_close(tokens, reference)
        torch.testing.assert_close(encoder(images), reference[:, 0])
        torch.testing.assert_close(encoder.vit(images), encoder(images))  # timm's pooled output
        fmap = encoder.feature_map(images)
    torch.testing.assert_close(fmap[:, :, 1, 2], tokens[:, 1 + 1 * 4 + 2])
    assert encoder(images).is_contiguous()


@pytest.mark.parametrize(
    "size,patch", [(8, 4), (16, 4), (28, 4), (30, 3), (32, 4), (64, 8), (96, 8), (128, 16), (224, 16)]
)
def test_patch_size_is_chosen_for_the_resolution(size: int, patch: int) -> None:
    assert default_patch_size(size) == patch
    assert size % patch == 0


def test_patch_size_and_heads_are_checked_when_built() -> None:
    with pytest.raises(
        ConfigError, match=r"patch_size=5 does not divide the image size 16.*\(1, 2, 4, 8, 16\)"
    ):
        vit(INFO, patch_size=5, **TINY)
    with pytest.raises(ConfigError, match=r"embed_dim=30 is not divisible by num_heads=4"):
        vit(INFO, depth=1, embed_dim=30, num_heads=4)
    explicit = vit({"in_channels": 3, "image_size": 32}, patch_size=8, **TINY)
    assert (explicit.patch_size, explicit.grid, explicit.num_patches) == (8, (4, 4), 16)


def test_keeping_patches_runs_the_blocks_on_those_only(encoder, images) -> None:
    """``keep`` = every patch in order is the full forward; a permutation permutes the
    patch tokens (position embeddings are added before dropping) and keeps [CLS]."""
    with torch.no_grad():
        full = encoder.tokens(images)
        every = torch.arange(N).expand(B, N)
        torch.testing.assert_close(encoder.tokens(images, keep=every), full)
        order = torch.stack([torch.randperm(N) for _ in range(B)])
        shuffled = encoder.tokens(images, keep=order)
    torch.testing.assert_close(shuffled[:, 0], full[:, 0])
    torch.testing.assert_close(
        shuffled[:, 1:], torch.gather(full[:, 1:], 1, order[..., None].expand(-1, -1, D))
    )


def test_the_mask_token_replaces_masked_patches_only(encoder, images) -> None:
    seen = []
    hook = encoder.vit.blocks.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    mask = torch.zeros(B, N, dtype=torch.bool)
    mask[:, [0, 5]] = True
    try:
        with torch.no_grad():
            plain = encoder.tokens(images)
            unmasked = encoder.tokens(images, mask=torch.zeros(B, N, dtype=torch.bool))
            encoder.tokens(images, mask=mask)
    finally:
        hook.remove()
    torch.testing.assert_close(unmasked, plain)
    before, after = seen[0], seen[2]  # the blocks' input: [CLS] + patches, position embeddings added
    pos = encoder.vit.pos_embed[0, 1:]
    torch.testing.assert_close(after[:, 1:][mask], (encoder.mask_token[0, 0] + pos[[0, 5]]).repeat(B, 1))
    torch.testing.assert_close(after[:, 1:][~mask], before[:, 1:][~mask])
    torch.testing.assert_close(after[:, 0], before[:, 0])


def test_the_mask_token_learns_from_masked_inputs(images) -> None:
    encoder = vit(INFO, **TINY)
    encoder.tokens(images, mask=torch.rand(B, N) < 0.5).square().mean().backward()
    assert encoder.mask_token.grad is not None and encoder.mask_token.grad.abs().sum() > 0


def test_wrong_keep_or_mask_name_the_shapes(encoder, images) -> None:
    keep, mask = torch.zeros(B, 4, dtype=torch.long), torch.zeros(B, N, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"keep \(\(3, 4\)\) or mask \(\(3, 16\)\), not both"):
        encoder.tokens(images, keep=keep, mask=mask)
    with pytest.raises(ValueError, match=r"mask must be a bool tensor \[B, N\] = \[3, 16\].*\(3, 15\)"):
        encoder.tokens(images, mask=torch.zeros(B, 15, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask must be a bool tensor.*torch.float32"):
        encoder.tokens(images, mask=torch.zeros(B, N))
    with pytest.raises(
        ValueError, match=r"keep must be integer indices \[B, K\] with B = 3, K <= N = 16.*\(2, 4\)"
    ):
        encoder.tokens(images, keep=torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"keep must be integer indices.*\(3, 17\)"):
        encoder.tokens(images, keep=torch.zeros(B, 17, dtype=torch.long))


def test_other_image_sizes_resample_the_position_embedding(encoder) -> None:
    """Multi-crop views: smaller images (and sides the patch does not divide, padded) work."""
    with torch.no_grad():
        assert encoder(torch.randn(2, 1, 8, 8)).shape == (2, D)
        assert encoder.tokens(torch.randn(2, 1, 10, 12)).shape == (2, 1 + 3 * 3, D)
        assert encoder.feature_map(torch.randn(2, 1, 24, 24)).shape == (2, D, 6, 6)
        small = encoder.tokens(torch.randn(2, 1, 8, 8), mask=torch.zeros(2, 4, dtype=torch.bool))
    assert small.shape == (2, 5, D)
    with pytest.raises(ConfigError, match="1-channel images"):
        encoder(torch.randn(2, 3, 16, 16))


def test_layer_ids_cover_every_parameter(encoder) -> None:
    ids = {name: encoder.layer_id(name) for name, _ in encoder.named_parameters()}
    assert all(0 <= i <= encoder.num_layers for i in ids.values())
    assert {
        ids[n] for n in ("vit.patch_embed.proj.weight", "vit.cls_token", "vit.pos_embed", "mask_token")
    } == {0}
    assert ids["vit.blocks.0.attn.qkv.weight"] == 1 and ids["vit.blocks.1.mlp.fc2.bias"] == 2
    assert ids["vit.norm.weight"] == encoder.num_layers
    assert sorted(set(ids.values())) == list(range(encoder.num_layers + 1))
    assert encoder.layer_id("encoder.vit.blocks.1.norm1.weight") == 2  # a task's name for it
    assert encoder.layer_id("encoder.vit.pos_embed") == 0


def test_no_weight_decay_names_are_parameters(encoder) -> None:
    names = dict(encoder.named_parameters())
    assert encoder.no_weight_decay() == {"vit.pos_embed", "vit.cls_token", "mask_token"}
    assert encoder.no_weight_decay() <= names.keys()


# -- weights from local files --------------------------------------------------------------
def _same(a: VisionTransformerEncoder, b: VisionTransformerEncoder, images: torch.Tensor) -> None:
    a.eval(), b.eval()
    with torch.no_grad():
        torch.testing.assert_close(a.tokens(images), b.tokens(images), rtol=0, atol=0)


def test_weights_round_trip_through_safetensors_and_torch_files(encoder, images, tmp_path: Path) -> None:
    state = {k: v.contiguous() for k, v in encoder.state_dict().items()}
    save_file(state, tmp_path / "vit.safetensors")
    torch.save(state, tmp_path / "bare.pt")
    torch.save({"state_dict": state, "step": 3}, tmp_path / "nested.pt")
    torch.save(
        {"model": {f"encoder.{k}": v for k, v in state.items()} | {"head.weight": torch.ones(2)}},
        tmp_path / "task.pt",
    )
    torch.save(
        {k.removeprefix("vit."): v for k, v in state.items() if k != "mask_token"}, tmp_path / "timm.pth"
    )
    for name in ("vit.safetensors", "bare.pt", "nested.pt", "task.pt"):
        torch.manual_seed(7)
        _same(vit(INFO, weights=str(tmp_path / name), **TINY), encoder, images)
    torch.manual_seed(7)
    timm_layout = vit(INFO, weights=str(tmp_path / "timm.pth"), **TINY)  # a plain timm ViT's keys
    _same(timm_layout, encoder, images)


def test_weights_that_do_not_fit_are_a_config_error(encoder, tmp_path: Path, registry) -> None:
    path = tmp_path / "vit.pt"
    torch.save(encoder.state_dict(), path)
    with pytest.raises(ConfigError) as deeper:
        vit(INFO, weights=str(path), depth=3, embed_dim=32, num_heads=2)
    message = str(deeper.value)
    assert "missing key(s): vit.blocks.2." in message and "depth" in message and "Fix:" in message
    with pytest.raises(
        ConfigError, match=r"shape mismatch.*vit.cls_token: file \(1, 1, 32\) vs encoder \(1, 1, 64\)"
    ):
        vit(INFO, weights=str(path), depth=2, embed_dim=64, num_heads=2)
    with pytest.raises(ConfigError, match="not found.*never downloaded"):
        vit(INFO, weights=str(tmp_path / "missing.safetensors"), **TINY)
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="cannot read weights"):
        vit(INFO, weights=str(tmp_path / "junk.pt"), **TINY)
    with pytest.raises(ConfigError, match="unexpected key"):  # through the registry, before training
        build_encoder(
            "vit", INFO, {"weights": str(path), "depth": 1, "embed_dim": 32, "num_heads": 2}, registry
        )


def test_registered_vits_read_the_dataset_info(registry) -> None:
    tiny = build_encoder("vit_tiny", {"in_channels": 3, "image_size": 96}, {}, registry)
    assert (tiny.output_dim, tiny.num_layers, tiny.patch_size, tiny.grid, tiny.in_channels) == (
        192,
        12,
        8,
        (12, 12),
        3,
    )
    with pytest.raises(ConfigError, match="patch_size=5 does not divide the image size 16"):
        build_encoder("vit", INFO, {"patch_size": 5}, registry)
    with pytest.raises(KeyError, match="image_size"):
        build_encoder("vit", {"in_channels": 1}, {}, registry)


# -- every task with a ViT --------------------------------------------------------------------
TASKS = [spec.name for spec in sslcore_vision.plugin.sslcore_register_tasks()]
COLOUR = ("colorization", "adversarial_colorization")


@pytest.mark.parametrize("name", TASKS)
def test_every_task_trains_with_a_vit(name: str, registry, digits_bundle) -> None:
    """A one-block ViT in every registered task: finite losses whose gradients reach it."""
    bundle = (
        build_dataset("sample-photos", None, {"crops_per_photo": 8}, registry)
        if name in COLOUR
        else digits_bundle
    )
    torch.manual_seed(0)
    task = build_task(
        name, bundle, "vit", encoder_options={"depth": 1, "embed_dim": 32, "num_heads": 2}, registry=registry
    )
    task.train()
    n = max(8, task.min_batch_size)
    samples = [(i, bundle.pretrain[i]) if task.needs_indices else bundle.pretrain[i] for i in range(n)]
    for loss in step_losses(task, task.on_after_batch_transfer(task.collate(samples))):
        assert torch.isfinite(loss), name
        loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in task.encoder.parameters()), name


@pytest.mark.parametrize("name", ["jigsaw", "relative_position", "pirl"])
def test_tiles_smaller_than_a_patch_are_a_config_error(name: str, registry, digits_bundle) -> None:
    options = {"depth": 1, "embed_dim": 32, "num_heads": 2, "patch_size": 8}
    with pytest.raises(
        ConfigError, match=rf"{name}: its tiles are \d px but the encoder's patches are 8 px.*min_tile_size=8"
    ):
        build_task(name, digits_bundle, "vit", {"min_tile_size": 0}, options, registry)
    assert build_task(name, digits_bundle, "vit", {"min_tile_size": 8}, options, registry) is not None


def test_gradient_checkpointing_gives_the_same_gradients(images) -> None:
    torch.manual_seed(0)
    plain, checkpointed = vit(INFO, **TINY), vit(INFO, **TINY)
    checkpointed.load_state_dict(plain.state_dict())
    checkpointed.vit.set_grad_checkpointing()
    for encoder in (plain, checkpointed):
        encoder.tokens(images).square().mean().backward()
    torch.testing.assert_close(
        plain.vit.blocks[0].attn.qkv.weight.grad, checkpointed.vit.blocks[0].attn.qkv.weight.grad
    )
