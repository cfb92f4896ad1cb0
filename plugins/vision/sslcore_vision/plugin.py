"""Registration hooks of sslcore-vision. Factories are strings, so loading the plugin
imports neither torchvision nor the components."""

from __future__ import annotations

from typing import Any

from sslcore import DatasetSpec, EncoderSpec, TaskSpec, hookimpl
from sslcore.recipes import Recipe

#: the vision benchmark's encoder: small_cnn of width 64 (the default is 32), 256-d output
SMALL_CNN = {"width": 64, "output_dim": 256}
FASHION = "docs/benchmarks.md, 'Vision plugin methods on Fashion-MNIST' (benchmarks/vision_methods.py)"


def _fashion_mnist(batch_size: int, lr: float, reference: str, **task_options: object) -> Recipe:
    """The vision benchmark's recipe: the papers' CIFAR settings scaled to a CPU budget --
    small_cnn width 64, 900 s of pretraining, AdamW (weight decay 1e-4), 5 % warm-up, cosine
    decay over the budget -- with the method's batch, learning rate and options."""
    return Recipe(
        train={
            "seconds": 900,
            "batch_size": batch_size,
            "lr": lr,
            "optimizer": "adamw",
            "weight_decay": 1e-4,
            "warmup": 0.05,
        },
        encoder_options=SMALL_CNN,
        task_options=task_options,
        dataset="fashion-mnist",
        reference=reference,
    )


def _measured(paper: str, accuracy: str) -> str:
    return f"{paper}, scaled to a CPU budget. Measured: {FASHION}: {accuracy} linear probe, 2 seeds"


def _colour(paper: str) -> str:
    return (
        f"{paper}. Not benchmarked (colour images only; Fashion-MNIST is grey): the vision "
        "benchmark's generative recipe (inpainting's batch, learning rate and budget), since the "
        "paper's ImageNet schedule does not fit a CPU budget"
    )


@hookimpl
def sslcore_register_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            "simclr",
            domain="vision",
            factory="sslcore_vision.tasks.simclr:SimCLR",
            summary="SimCLR: NT-Xent between two augmented views of each image (Chen et al. 2020)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(
                256,
                2e-3,
                _measured("Chen et al. 2020", "88.19 +- 0.13 %"),
                temperature=0.2,
                crop_min_scale=0.08,
                jitter=0.5,
            ),
        ),
        TaskSpec(
            "moco_v2",
            domain="vision",
            factory="sslcore_vision.tasks.moco_v2:MoCoV2",
            summary="MoCo v2: InfoNCE against a queue of momentum-encoder keys, MLP head (He et al. 2020; Chen et al. 2020)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(
                256,
                2e-3,
                _measured("Chen et al. 2020 (MoCo v2)", "88.18 +- 0.10 %"),
                temperature=0.2,
                crop_min_scale=0.08,
                jitter=0.5,
                symmetric=True,
            ),
        ),
        TaskSpec(
            "byol",
            domain="vision",
            factory="sslcore_vision.tasks.byol:BYOL",
            summary="BYOL: predict an EMA target network's projection of the other view (Grill et al. 2020)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(
                256, 2e-3, _measured("Grill et al. 2020", "87.22 +- 0.50 %"), crop_min_scale=0.08
            ),
        ),
        TaskSpec(
            "simsiam",
            domain="vision",
            factory="sslcore_vision.tasks.simsiam:SimSiam",
            summary="SimSiam: predict the other view's projection through a stop-gradient (Chen & He 2021)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(
                256, 1e-3, _measured("Chen & He 2021", "87.33 +- 0.14 %"), crop_min_scale=0.08, jitter=0.5
            ),
        ),
        TaskSpec(
            "swav",
            domain="vision",
            factory="sslcore_vision.tasks.swav:SwAV",
            summary="SwAV: swapped prediction of Sinkhorn-Knopp prototype codes over multi-crop views (Caron et al. 2020)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(
                256,
                2e-3,
                _measured("Caron et al. 2020", "88.24 +- 0.32 %"),
                jitter=0.5,
                freeze_prototypes=200,
            ),
        ),
        TaskSpec(
            "barlow_twins",
            domain="vision",
            factory="sslcore_vision.tasks.barlow_twins:BarlowTwins",
            summary="Barlow Twins: cross-correlation of two views' projections driven to the identity (Zbontar et al. 2021)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(
                256,
                1e-3,
                _measured("Zbontar et al. 2021", "87.77 +- 0.17 %"),
                crop_min_scale=0.08,
                proj_dim=1024,
                hidden_dim=1024,
            ),
        ),
        # -- instance-instance tasks (moco_v2, byol, simsiam, swav, barlow_twins) --
        TaskSpec(
            "rotation",
            domain="vision",
            factory="sslcore_vision.tasks.rotation:RotationPrediction",
            summary="RotNet: classify the rotation (0/90/180/270 degrees) of each image (Gidaris et al. 2018)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(128, 1e-3, _measured("Gidaris et al. 2018", "87.25 +- 0.01 %")),
        ),
        TaskSpec(
            "relative_position",
            domain="vision",
            factory="sslcore_vision.tasks.relative_position:RelativePosition",
            summary="Context prediction: where a patch lies relative to the centre patch, 8-way (Doersch et al. 2015)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(256, 1e-3, _measured("Doersch et al. 2015", "84.02 +- 0.14 %")),
        ),
        TaskSpec(
            "jigsaw",
            domain="vision",
            factory="sslcore_vision.tasks.jigsaw:Jigsaw",
            summary="Jigsaw puzzles: which of a max-Hamming permutation set shuffled 3x3 tiles (Noroozi & Favaro 2016)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(256, 1e-3, _measured("Noroozi & Favaro 2016", "84.93 +- 0.54 %")),
        ),
        TaskSpec(
            "pirl",
            domain="vision",
            factory="sslcore_vision.tasks.pirl:PIRL",
            summary="PIRL: image and its jigsaw tiles match a memory-bank entry, NCE (Misra & van der Maaten 2020)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(
                256,
                1e-3,
                _measured("Misra & van der Maaten 2020", "85.99 +- 0.72 %"),
                crop_min_scale=0.08,
                jitter=0.5,
            ),
        ),
        TaskSpec(
            "deep_infomax",
            domain="vision",
            factory="sslcore_vision.tasks.deep_infomax:DeepInfoMax",
            summary="Deep InfoMax local-global: JSD (or InfoNCE) MI between local features and the global vector (Hjelm et al. 2019)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(
                256,
                1e-3,
                _measured("Hjelm et al. 2019, 7x7 local map", "87.28 +- 0.13 %"),
                local_size=7,
            ),
        ),
        # -- context-instance tasks (rotation, relative_position, jigsaw, pirl, deep_infomax) --
        TaskSpec(
            "colorization",
            domain="vision",
            factory="sslcore_vision.tasks.colorization:Colorization",
            summary="Colorization: regress the a*b* colour channels from the L channel (after Zhang et al. 2016); colour data only",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(256, 1e-3, _colour("Zhang et al. 2016")),
        ),
        TaskSpec(
            "inpainting",
            domain="vision",
            factory="sslcore_vision.tasks.inpainting:Inpainting",
            summary="Context encoder: reconstruct a hidden central (or random) square from its context, L2 loss (Pathak et al. 2016)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(
                256, 1e-3, _measured("Pathak et al. 2016, random masks", "87.31 +- 0.13 %"), mask="random"
            ),
        ),
        TaskSpec(
            "masked_denoising",
            domain="vision",
            factory="sslcore_vision.tasks.masked_denoising:MaskedDenoising",
            summary="Masked-patch denoising auto-encoder: hide 60% of 4x4 patches, L2 loss on hidden patches (SimMIM/MAE style)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(256, 1e-3, _measured("SimMIM / MAE style", "87.00 +- 0.16 %")),
        ),
        # -- generative tasks (colorization, inpainting, masked_denoising) --
        TaskSpec(
            "adversarial_inpainting",
            domain="vision",
            factory="sslcore_vision.tasks.adversarial_inpainting:AdversarialInpainting",
            summary="Context encoder with 0.999 L2 + 0.001 adversarial loss, patch discriminator, alternating updates (Pathak et al. 2016)",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(
                256, 1e-3, _measured("Pathak et al. 2016, random masks", "87.00 +- 0.23 %"), mask="random"
            ),
        ),
        TaskSpec(
            "adversarial_colorization",
            domain="vision",
            factory="sslcore_vision.tasks.adversarial_colorization:AdversarialColorization",
            summary="Colorization with a conditional patch discriminator on (L, ab), alternating updates; colour data only",
            default_encoder="small_cnn",
            recipe=_fashion_mnist(256, 1e-3, _colour("after Zhang et al. 2016 and Isola et al. 2017")),
        ),
        # -- generative-contrastive tasks (adversarial inpainting and colorization) --
    ]


@hookimpl
def sslcore_register_encoders() -> list[EncoderSpec]:
    return [
        EncoderSpec(
            "small_cnn",
            domain="vision",
            factory="sslcore_vision.encoders.small_cnn:small_cnn",
            summary="4 conv-BN-ReLU blocks + global average pooling; fast on CPU (options: width, output_dim)",
        ),
        EncoderSpec(
            "resnet18",
            domain="vision",
            factory="sslcore_vision.encoders.resnet:resnet18",
            summary="torchvision ResNet-18 without fc, 512-d (option: small_images for a 3x3 stride-1 stem)",
        ),
        EncoderSpec(
            "resnet50",
            domain="vision",
            factory="sslcore_vision.encoders.resnet:resnet50",
            summary="torchvision ResNet-50 without fc, 2048-d (option: small_images for a 3x3 stride-1 stem)",
        ),
        # -- more encoders --
    ]


@hookimpl
def sslcore_register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            "fashion-mnist",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.fashion_mnist:fashion_mnist",
            summary="Fashion-MNIST: 60k train + 10k test 28x28 grey images, 10 classes (torchvision loader)",
        ),
        DatasetSpec(
            "digits",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.digits:digits",
            summary="scikit-learn digits: 1797 8x8 grey images resized to 16x16, 70/30 split, 10 classes",
            needs_root=False,
        ),
        DatasetSpec(
            "sample-photos",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.sample_photos:sample_photos",
            summary="colour crops of scikit-learn's two sample photos: 2 x 128 32x32 RGB crops, 75/25 split, 2 classes",
            needs_root=False,
        ),
        DatasetSpec(
            "mnist",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.mnist:mnist",
            summary="MNIST: 60k train + 10k test 28x28 grey digits, 10 classes (torchvision loader)",
        ),
        DatasetSpec(
            "cifar10",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.cifar:cifar10",
            summary="CIFAR-10: 50k train + 10k test 32x32 colour images, 10 classes (torchvision loader)",
        ),
        DatasetSpec(
            "cifar100",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.cifar:cifar100",
            summary="CIFAR-100: 50k train + 10k test 32x32 colour images, 100 classes (torchvision loader)",
        ),
        DatasetSpec(
            "stl10",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.stl10:stl10",
            summary="STL-10: 100k unlabelled 96x96 colour images for pretraining, 5k + 8k labelled, 10 classes",
        ),
        DatasetSpec(
            "image-folder",
            domain="vision",
            sample="image",
            factory="sslcore_vision.datasets.image_folder:image_folder",
            summary="Any root/<class>/<image> tree (torchvision ImageFolder), decoded once; stratified split",
        ),
        # -- more datasets --
    ]


@hookimpl
def sslcore_raw_features(bundle: Any) -> Any:
    """The raw-feature baseline of a vision dataset: its images' pixels, flattened."""
    if bundle.domain != "vision":
        return None
    from sslcore.compare.baselines import RawFeatures

    return RawFeatures()
