"""Generative (colorization, inpainting, masked_denoising) and generative-contrastive
(adversarial_inpainting, adversarial_colorization) vision tasks."""

from __future__ import annotations

import pytest
import torch

from sslcore import AdversarialTask, ConfigError, DatasetBundle, GenerativeTask
from sslcore.build import build_dataset, build_encoder, build_task
from sslcore.testing.steps import train_steps
from sslcore_vision.colour import AB_SCALE, L_CENTRE, L_SCALE, lab_to_rgb, rgb_to_lab
from sslcore_vision.datasets.image_bundle import image_bundle
from sslcore_vision.decoders import ImageDecoder
from sslcore_vision.masks import PatchMask, SquareMask, masked_mse

SMALL_ENCODER = {"width": 8, "output_dim": 32}
SMALL_HEADS = {"decoder_width": 8}
GREY_TASKS = ("inpainting", "masked_denoising")


@pytest.fixture(scope="module")
def colour_bundle(registry) -> DatasetBundle:
    """64 random 96x96 crops of scikit-learn's two sample photos, resized to 32x32;
    label = which photo. 48 train rows, 16 test rows."""
    return build_dataset("sample-photos", None, {"crops_per_photo": 32}, registry)


def make_task(name, bundle, registry, encoder=None, **options):
    torch.manual_seed(0)
    heads = {**SMALL_HEADS, **({"disc_width": 8} if name.startswith("adversarial") else {})}
    return build_task(
        name,
        bundle,
        encoder=encoder,
        task_options={**heads, **options},
        encoder_options=None if encoder is not None else SMALL_ENCODER,
        registry=registry,
    )


def parameters_of(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters()))


# -- colour conversion ---------------------------------------------------------------------
def test_lab_of_known_colours():
    rgb = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    lab = rgb_to_lab(rgb.view(4, 3, 1, 1)).view(4, 3)
    expected = torch.tensor([[53.24, 80.09, 67.20], [100.0, 0.0, 0.0], [0.0, 0.0, 0.0], [53.39, 0.0, 0.0]])
    assert torch.allclose(lab, expected, atol=0.02)


def test_lab_round_trip(colour_bundle, samples):
    rgb = torch.cat([torch.rand(4, 3, 16, 16), torch.stack(samples(colour_bundle, 4))[..., :16, :16] / 255])
    assert (lab_to_rgb(rgb_to_lab(rgb)) - rgb).abs().max() < 1e-4


def test_lab_gradients_are_finite_at_black_and_white():
    rgb = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1).expand(2, 3, 2, 2).clone().requires_grad_()
    rgb_to_lab(rgb).sum().backward()
    assert torch.isfinite(rgb.grad).all()


# -- shared pieces ---------------------------------------------------------------------
def test_centre_square_mask_hides_the_central_half():
    masks = SquareMask(0.5, centre=True)(3, 16, 16)
    assert masks.shape == (3, 1, 16, 16) and masks.dtype == torch.bool
    assert masks[:, :, 4:12, 4:12].all() and masks.sum() == 3 * 64


def test_random_square_masks_move_but_keep_their_size():
    torch.manual_seed(0)
    masks = SquareMask(0.25, centre=False)(16, 28, 28)
    assert (masks.sum(dim=(1, 2, 3)) == 49).all()
    assert len({tuple(m.nonzero()[0].tolist()) for m in masks}) > 1


def test_patch_mask_hides_whole_patches_at_the_ratio():
    torch.manual_seed(0)
    masks = PatchMask(patch_size=4, ratio=0.6)(8, 28, 28)  # 7x7 = 49 patches, 29 hidden
    patches = masks.view(8, 7, 4, 7, 4)
    assert (patches.all(dim=(2, 4)) == patches.any(dim=(2, 4))).all()  # constant within a patch
    assert (patches.all(dim=(2, 4)).sum(dim=(1, 2)) == round(0.6 * 49)).all()
    assert not torch.equal(masks[0], masks[1])


def test_decoder_reaches_any_target_size():
    decoder = ImageDecoder(16, 3, feature_size=2, image_size=28, width=8)
    features = torch.randn(2, 16, 2, 2)
    assert decoder(features).shape == (2, 3, 28, 28)
    assert decoder(features, (30, 17)).shape == (2, 3, 30, 17)


# -- generative tasks ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["inpainting", "masked_denoising", "colorization"])
def test_a_few_steps_lower_the_loss(name, registry, digits_bundle, colour_bundle, samples):
    bundle = colour_bundle if name == "colorization" else digits_bundle
    task = make_task(name, bundle, registry)
    assert isinstance(task, GenerativeTask)
    batch = task.collate(samples(bundle))
    losses = train_steps(lambda step: task(batch), task, steps=12, lr=3e-3)
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("name", GREY_TASKS)
def test_masked_pixels_are_hidden_from_the_encoder(name, registry, digits_bundle, samples):
    task = make_task(name, digits_bundle, registry)
    batch = task.collate(samples(digits_bundle))
    images, masks, targets = batch
    assert images.shape == targets.shape == (32, 1, 16, 16) and masks.shape == (32, 1, 16, 16)
    assert 0.2 < masks.float().mean() < 0.7
    hidden = masks.expand_as(images)
    assert (images[hidden] == 0).all()  # the fill value: the dataset mean after normalisation
    assert torch.equal(images[~hidden], targets[~hidden])
    assert not torch.equal(images, targets)
    # what is under the mask cannot reach the prediction: only `images` is encoded
    task.eval()
    with torch.no_grad():
        scrambled = targets.masked_fill(hidden, 5.0)
        assert torch.equal(task.predict(batch), task.predict(batch._replace(targets=scrambled)))


def test_inpainting_hides_the_central_square(registry, digits_bundle, samples):
    _, masks, _ = make_task("inpainting", digits_bundle, registry).collate(samples(digits_bundle, 4))
    assert masks[:, :, 4:12, 4:12].all() and masks.sum() == 4 * 64


def test_masked_denoising_loss_ignores_visible_patches(registry, digits_bundle, samples):
    task = make_task("masked_denoising", digits_bundle, registry, patch_size=4, mask_ratio=0.5)
    batch = task.collate(samples(digits_bundle, 8))
    prediction = torch.randn_like(batch.targets)
    loss = task.reconstruction_loss(prediction, batch)
    visible_changed = torch.where(batch.masks, prediction, prediction + 3.0)
    hidden_changed = torch.where(batch.masks, prediction + 3.0, prediction)
    assert torch.equal(task.reconstruction_loss(visible_changed, batch), loss)
    assert task.reconstruction_loss(hidden_changed, batch) != loss
    # with a weight outside the hole, visible pixels count
    assert masked_mse(visible_changed, batch.targets, batch.masks, 0.1) > masked_mse(
        prediction, batch.targets, batch.masks, 0.1
    )


def test_colorization_sees_only_lightness(registry, colour_bundle, samples, eval_images):
    info = colour_bundle.info
    grey_encoder = build_encoder("small_cnn", {**info, "in_channels": 1}, SMALL_ENCODER, registry)
    task = make_task("colorization", colour_bundle, registry, encoder=grey_encoder)
    raw = samples(colour_bundle, 8)
    lightness, ab = task.collate(raw)
    assert lightness.shape == (8, 1, 32, 32) and ab.shape == (8, 2, 32, 32)
    rgb = torch.stack(raw).float() / 255
    assert torch.allclose(lightness, (rgb_to_lab(rgb)[:, :1] - L_CENTRE) / L_SCALE, atol=1e-6)
    rebuilt = lab_to_rgb(torch.cat([lightness * L_SCALE + L_CENTRE, ab * AB_SCALE], dim=1))
    assert (rebuilt - rgb).abs().max() < 1e-4  # input + target are the whole image, nothing else
    # embed takes normalised RGB (as evaluation sets give it) and encodes its lightness
    images = eval_images(colour_bundle, 8)
    task.eval()
    with torch.no_grad():
        assert torch.allclose(task.embed(images), task.encoder(lightness), atol=1e-4)


@pytest.mark.parametrize("name", ["colorization", "adversarial_colorization"])
def test_colour_tasks_build_their_registered_encoder_for_lightness(name, registry, colour_bundle):
    assert colour_bundle.info["in_channels"] == 3
    task = make_task(name, colour_bundle, registry)  # the default encoder, through encoder_info
    assert task.encoder.in_channels == 1
    assert task.encoder_info(colour_bundle.info) == {**colour_bundle.info, "in_channels": 1}
    colour_encoder = build_encoder("small_cnn", colour_bundle.info, SMALL_ENCODER, registry)
    with pytest.raises(ConfigError, match=rf"{name}: the encoder takes 3-channel images .* in_channels=1"):
        make_task(name, colour_bundle, registry, encoder=colour_encoder)


@pytest.mark.parametrize("name", ["adversarial_inpainting", "adversarial_colorization"])
def test_discriminator_steps_lower_its_loss_against_a_fixed_generator(
    name, registry, digits_bundle, colour_bundle, samples
):
    bundle = colour_bundle if name == "adversarial_colorization" else digits_bundle
    task = make_task(name, bundle, registry)
    batch = task.collate(samples(bundle))
    before = parameters_of(task.generator)
    losses = train_steps(
        lambda step: task.discriminator_loss(batch), task.discriminator_parameters(), 30, 3e-3
    )
    assert losses[-1] < 0.7 * losses[0]  # it learns to tell the generator's output from real images
    assert not changed(before, task.generator)


def test_bad_options_are_config_errors(registry, digits_bundle):
    with pytest.raises(ConfigError, match="center"):
        make_task("inpainting", digits_bundle, registry, mask="corner")
    with pytest.raises(ConfigError, match="region_size"):
        make_task("inpainting", digits_bundle, registry, region_size=1.5)


# -- adversarial tasks -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["adversarial_inpainting", "adversarial_colorization"])
def test_alternating_updates_touch_only_their_own_side(name, registry, digits_bundle, colour_bundle, samples):
    bundle = colour_bundle if name == "adversarial_colorization" else digits_bundle
    task = make_task(name, bundle, registry, lambda_adv=0.01)
    assert isinstance(task, AdversarialTask) and task.schedule == "alternating"
    assert task.encoder is task.generator.encoder
    generator_params = list(task.generator_parameters())
    disc_params = list(task.discriminator_parameters())
    assert {id(p) for p in generator_params}.isdisjoint(id(p) for p in disc_params)
    assert len(generator_params) + len(disc_params) == len(list(task.parameters()))
    opt_g = torch.optim.Adam(generator_params, lr=3e-3)
    opt_d = torch.optim.Adam(disc_params, lr=1e-3)
    batch = task.collate(samples(bundle))
    reconstruction = []
    for _ in range(10):  # the trainer's order: discriminator step, then generator step
        before_g, before_d = parameters_of(task.generator), parameters_of(task.discriminator)
        task.zero_grad(set_to_none=True)  # clear the last generator step's gradients
        d_out = task.discriminator_loss(batch)
        opt_d.zero_grad(set_to_none=True)
        d_out.loss.backward()
        assert all(p.grad is None for p in generator_params)  # no gradient reaches the generator
        opt_d.step()
        assert not changed(before_g, task.generator) and changed(before_d, task.discriminator)

        before_d = parameters_of(task.discriminator)
        g_out = task.generator_loss(batch)
        opt_g.zero_grad(set_to_none=True)
        g_out.loss.backward()
        opt_g.step()
        assert changed(before_g, task.generator) and not changed(before_d, task.discriminator)
        reconstruction.append(g_out.metrics["reconstruction"])
        assert 0 <= d_out.metrics["real_score"] <= 1 and g_out.metrics["adversarial"] > 0
    assert reconstruction[-1] < 0.7 * reconstruction[0]


def test_adversarial_inpainting_shows_the_discriminator_the_filled_context(registry, digits_bundle, samples):
    task = make_task("adversarial_inpainting", digits_bundle, registry)
    batch = task.collate(samples(digits_bundle, 4))
    prediction = torch.randn_like(batch.targets)
    real, fake = task.judged(batch, prediction)
    hidden = batch.masks.expand_as(fake)
    assert torch.equal(real, batch.targets)
    assert torch.equal(fake[hidden], prediction[hidden]) and torch.equal(fake[~hidden], real[~hidden])


def test_adversarial_task_runs_in_the_trainer(registry, digits_bundle, fit):
    task = make_task("adversarial_inpainting", digits_bundle, registry)
    result = fit(task, digits_bundle.pretrain, steps=3, log_every=1)
    assert {"reconstruction", "adversarial", "disc/loss", "disc/real_score"} <= set(result.history[-1])


@pytest.mark.parametrize("name", ["colorization", "adversarial_colorization"])
def test_colour_tasks_refuse_grey_data_and_grey_images_stored_as_rgb(
    name, registry, digits_bundle, colour_bundle
):
    with pytest.raises(ConfigError, match=rf"{name} needs colour .* dataset has 1 channel"):
        make_task(name, digits_bundle, registry)
    images, labels = colour_bundle.evaluation.dataset.tensors
    grey = images.float().mean(1, keepdim=True).round().to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    bundle = image_bundle("grey-rgb", (grey[:48], labels[:48]), (grey[48:], labels[48:]), 2)
    assert bundle.info["in_channels"] == 3 and bundle.info["grey"] and not colour_bundle.info["grey"]
    with pytest.raises(ConfigError, match=rf"{name} needs colour images, but .* grey \(R = G = B"):
        make_task(name, bundle, registry)


def test_masked_denoising_refuses_patches_that_would_hide_the_whole_image(registry, digits_bundle, samples):
    assert digits_bundle.info["image_size"] == 16
    with pytest.raises(ConfigError, match=r"16x16 images do not hold two 16x16 patches .* patch_size <= 8"):
        make_task("masked_denoising", digits_bundle, registry, patch_size=16)
    with pytest.raises(ConfigError, match=r"mask_ratio 0.9 hides all 4 patches"):
        make_task("masked_denoising", digits_bundle, registry, patch_size=8, mask_ratio=0.9)
    task = make_task("masked_denoising", digits_bundle, registry, patch_size=8, mask_ratio=0.5)
    batch = task.collate(samples(digits_bundle, 4))
    assert batch.masks.float().mean(dim=(1, 2, 3)).tolist() == [0.5] * 4  # 2 of the 4 patches each
