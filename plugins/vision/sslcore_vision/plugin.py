"""Registration hooks of sslcore-vision. Factories are strings, so loading the plugin
imports neither torchvision nor the components."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sslcore import DatasetSpec, EncoderSpec, TaskSpec, hookimpl
from sslcore.recipes import Recipe

#: the vision benchmark's encoder: small_cnn of width 64 (the default is 32), 256-d output
SMALL_CNN = {"width": 64, "output_dim": 256}
FASHION = "docs/benchmarks.md, 'Vision plugin methods on Fashion-MNIST' (benchmarks/vision_methods.py)"
VIT_ERA = "docs/benchmarks.md, 'ViT-era vision methods on Fashion-MNIST' (benchmarks/vision_vit_era.py)"


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


def _measured(batch_size: int, lr: float, paper: str, accuracy: str, **task_options: object) -> Recipe:
    """:func:`_fashion_mnist` of a method measured with it: ``paper``'s settings, scaled, and the
    ``accuracy`` of the linear probe."""
    reference = f"{paper}, scaled to a CPU budget. Measured: {FASHION}: {accuracy} linear probe, 2 seeds"
    return _fashion_mnist(batch_size, lr, reference, **task_options)


def _colour(paper: str) -> str:
    return (
        f"{paper}. Not benchmarked (colour images only; Fashion-MNIST is grey): the vision "
        "benchmark's generative recipe (inpainting's batch, learning rate and budget), since the "
        "paper's ImageNet schedule does not fit a CPU budget"
    )


def _vit_era(paper: str, measured: str) -> str:
    """The reference of a ViT-era task's recipe, with what its benchmark row measured."""
    return f"{paper}, scaled to a CPU budget like the measured methods. Measured: {VIT_ERA}: {measured}"


def _task(
    name: str, factory: str, summary: str, recipe: Recipe, default_encoder: str = "small_cnn"
) -> TaskSpec:
    if default_encoder != "small_cnn":  # the recipe's encoder options are small_cnn's
        recipe = replace(recipe, encoder_options={})
    return TaskSpec(
        name,
        domain="vision",
        factory=factory,
        summary=summary,
        default_encoder=default_encoder,
        recipe=recipe,
    )


def _encoder(name: str, factory: str, summary: str, name_option: str | None = None) -> EncoderSpec:
    return EncoderSpec(name, domain="vision", factory=factory, summary=summary, name_option=name_option)


def _dataset(name: str, factory: str, summary: str, needs_root: bool = True) -> DatasetSpec:
    return DatasetSpec(
        name, domain="vision", sample="image", factory=factory, summary=summary, needs_root=needs_root
    )


@hookimpl
def sslcore_register_tasks() -> list[TaskSpec]:
    return [
        _task(
            "simclr",
            "sslcore_vision.tasks.simclr:SimCLR",
            "SimCLR: NT-Xent between two augmented views of each image (Chen et al. 2020)",
            _measured(
                256,
                2e-3,
                "Chen et al. 2020",
                "88.19 +- 0.13 %",
                temperature=0.2,
                crop_min_scale=0.08,
                jitter=0.5,
            ),
        ),
        _task(
            "moco_v2",
            "sslcore_vision.tasks.moco_v2:MoCoV2",
            "MoCo v2: InfoNCE against a queue of momentum-encoder keys, MLP head (He et al. 2020; Chen et al. 2020)",
            _measured(
                256,
                2e-3,
                "Chen et al. 2020 (MoCo v2)",
                "88.18 +- 0.10 %",
                temperature=0.2,
                crop_min_scale=0.08,
                jitter=0.5,
                symmetric=True,
            ),
        ),
        _task(
            "byol",
            "sslcore_vision.tasks.byol:BYOL",
            "BYOL: predict an EMA target network's projection of the other view (Grill et al. 2020)",
            _measured(256, 2e-3, "Grill et al. 2020", "87.22 +- 0.50 %", crop_min_scale=0.08),
        ),
        _task(
            "simsiam",
            "sslcore_vision.tasks.simsiam:SimSiam",
            "SimSiam: predict the other view's projection through a stop-gradient (Chen & He 2021)",
            _measured(256, 1e-3, "Chen & He 2021", "87.33 +- 0.14 %", crop_min_scale=0.08, jitter=0.5),
        ),
        _task(
            "swav",
            "sslcore_vision.tasks.swav:SwAV",
            "SwAV: swapped prediction of Sinkhorn-Knopp prototype codes over multi-crop views (Caron et al. 2020)",
            _measured(256, 2e-3, "Caron et al. 2020", "88.24 +- 0.32 %", jitter=0.5, freeze_prototypes=200),
        ),
        _task(
            "barlow_twins",
            "sslcore_vision.tasks.barlow_twins:BarlowTwins",
            "Barlow Twins: cross-correlation of two views' projections driven to the identity (Zbontar et al. 2021)",
            _measured(
                256,
                1e-3,
                "Zbontar et al. 2021",
                "87.77 +- 0.17 %",
                crop_min_scale=0.08,
                proj_dim=1024,
                hidden_dim=1024,
            ),
        ),
        # -- instance-instance tasks (moco_v2, byol, simsiam, swav, barlow_twins) --
        _task(
            "rotation",
            "sslcore_vision.tasks.rotation:RotationPrediction",
            "RotNet: classify the rotation (0/90/180/270 degrees) of each image (Gidaris et al. 2018)",
            _measured(128, 1e-3, "Gidaris et al. 2018", "87.25 +- 0.01 %"),
        ),
        _task(
            "relative_position",
            "sslcore_vision.tasks.relative_position:RelativePosition",
            "Context prediction: where a patch lies relative to the centre patch, 8-way (Doersch et al. 2015)",
            _measured(256, 1e-3, "Doersch et al. 2015", "84.02 +- 0.14 %"),
        ),
        _task(
            "jigsaw",
            "sslcore_vision.tasks.jigsaw:Jigsaw",
            "Jigsaw puzzles: which of a max-Hamming permutation set shuffled 3x3 tiles (Noroozi & Favaro 2016)",
            _measured(256, 1e-3, "Noroozi & Favaro 2016", "84.93 +- 0.54 %"),
        ),
        _task(
            "pirl",
            "sslcore_vision.tasks.pirl:PIRL",
            "PIRL: image and its jigsaw tiles match a memory-bank entry, NCE (Misra & van der Maaten 2020)",
            _measured(
                256, 1e-3, "Misra & van der Maaten 2020", "85.99 +- 0.72 %", crop_min_scale=0.08, jitter=0.5
            ),
        ),
        _task(
            "deep_infomax",
            "sslcore_vision.tasks.deep_infomax:DeepInfoMax",
            "Deep InfoMax local-global: JSD (or InfoNCE) MI between local features and the global vector (Hjelm et al. 2019)",
            _measured(256, 1e-3, "Hjelm et al. 2019, 7x7 local map", "87.28 +- 0.13 %", local_size=7),
        ),
        # -- context-instance tasks (rotation, relative_position, jigsaw, pirl, deep_infomax) --
        _task(
            "colorization",
            "sslcore_vision.tasks.colorization:Colorization",
            "Colorization: regress the a*b* colour channels from the L channel (after Zhang et al. 2016); colour data only",
            _fashion_mnist(256, 1e-3, _colour("Zhang et al. 2016")),
        ),
        _task(
            "inpainting",
            "sslcore_vision.tasks.inpainting:Inpainting",
            "Context encoder: reconstruct a hidden central (or random) square from its context, L2 loss (Pathak et al. 2016)",
            _measured(256, 1e-3, "Pathak et al. 2016, random masks", "87.31 +- 0.13 %", mask="random"),
        ),
        _task(
            "masked_denoising",
            "sslcore_vision.tasks.masked_denoising:MaskedDenoising",
            "Masked-patch denoising auto-encoder: hide 60% of 4x4 patches, L2 loss on hidden patches (SimMIM/MAE style)",
            _measured(256, 1e-3, "SimMIM / MAE style", "87.00 +- 0.16 %"),
        ),
        # -- generative tasks (colorization, inpainting, masked_denoising) --
        _task(
            "adversarial_inpainting",
            "sslcore_vision.tasks.adversarial_inpainting:AdversarialInpainting",
            "Context encoder with 0.999 L2 + 0.001 adversarial loss, patch discriminator, alternating updates (Pathak et al. 2016)",
            _measured(256, 1e-3, "Pathak et al. 2016, random masks", "87.00 +- 0.23 %", mask="random"),
        ),
        _task(
            "adversarial_colorization",
            "sslcore_vision.tasks.adversarial_colorization:AdversarialColorization",
            "Colorization with a conditional patch discriminator on (L, ab), alternating updates; colour data only",
            _fashion_mnist(256, 1e-3, _colour("after Zhang et al. 2016 and Isola et al. 2017")),
        ),
        # -- generative-contrastive tasks (adversarial inpainting and colorization) --
        _task(
            "mae",
            "sslcore_vision.tasks.mae:MAE",
            "MAE: reconstruct the normalised pixels of 75% hidden patches, asymmetric ViT encoder/decoder (He et al. 2022)",
            _fashion_mnist(
                256,
                1.5e-3,
                _vit_era(
                    "He et al. 2022",
                    "83.39 / 83.54 % linear probe against 75.62 / 76.29 % at random init (7 px patches, seeds 0 / 1)",
                ),
                mask_ratio=0.75,
            ),
            default_encoder="vit_tiny",
        ),
        _task(
            "dino",
            "sslcore_vision.tasks.dino:DINO",
            "DINO: self-distillation, student matches a centred, sharpened momentum teacher over multi-crop views (Caron et al. 2021)",
            _fashion_mnist(
                256, 2e-3, _vit_era("Caron et al. 2021", "87.38 / 88.16 % linear probe (seeds 0 / 1)")
            ),
        ),
        _task(
            "moco_v3",
            "sslcore_vision.tasks.moco_v3:MoCoV3",
            "MoCo v3: symmetric InfoNCE of a predictor against a momentum encoder's keys in the batch (Chen et al. 2021)",
            _fashion_mnist(
                256, 2e-3, _vit_era("Chen, Xie & He 2021", "87.98 / 88.25 % linear probe (seeds 0 / 1)")
            ),
        ),
        _task(
            "ibot",
            "sslcore_vision.tasks.ibot:IBOT",
            "iBOT: DINO's [CLS] self-distillation plus masked patch-token self-distillation (Zhou et al. 2022)",
            _fashion_mnist(
                64,
                3e-4,
                "Zhou et al. 2022, scaled to a CPU budget for its default vit_tiny: batch 64, learning "
                "rate 3e-4 and BatchNorm in the head, since batch 256 at 2e-3 drifts to the uniform "
                f"teacher in 900 s. Measured: {VIT_ERA}: 80.63 / 81.16 % linear probe against 75.62 / "
                "76.29 % at random init (7 px patches, seeds 0 / 1)",
                head_batch_norm=True,
            ),
            default_encoder="vit_tiny",
        ),
        _task(
            "vicreg",
            "sslcore_vision.tasks.vicreg:VICReg",
            "VICReg: invariance, variance and covariance terms on two views' expanded embeddings (Bardes et al. 2022)",
            _fashion_mnist(
                256,
                1e-3,
                _vit_era("Bardes, Ponce & LeCun 2022", "87.87 / 89.00 % linear probe (seeds 0 / 1)"),
            ),
        ),
        # -- ViT-era tasks (mae, dino, moco_v3, ibot, vicreg) --
    ]


@hookimpl
def sslcore_register_encoders() -> list[EncoderSpec]:
    return [
        _encoder(
            "small_cnn",
            "sslcore_vision.encoders.small_cnn:small_cnn",
            "4 conv-BN-ReLU blocks + global average pooling; fast on CPU (options: width, output_dim)",
        ),
        _encoder(
            "resnet18",
            "sslcore_vision.encoders.resnet:resnet18",
            "torchvision ResNet-18 without fc, 512-d (option: small_images for a 3x3 stride-1 stem)",
        ),
        _encoder(
            "resnet50",
            "sslcore_vision.encoders.resnet:resnet50",
            "torchvision ResNet-50 without fc, 2048-d (option: small_images for a 3x3 stride-1 stem)",
        ),
        # -- more encoders --
        _encoder(
            "vit_tiny",
            "sslcore_vision.encoders.vit:vit_tiny",
            "ViT-Tiny (timm VisionTransformer: 192-d, 12 blocks, 3 heads), [CLS] output; patch size from the image size",
        ),
        _encoder(
            "vit_small",
            "sslcore_vision.encoders.vit:vit_small",
            "ViT-Small (timm VisionTransformer: 384-d, 12 blocks, 6 heads), [CLS] output; patch size from the image size",
        ),
        _encoder(
            "vit",
            "sslcore_vision.encoders.vit:vit",
            "A configurable timm VisionTransformer (embed_dim, depth, num_heads, patch_size, mlp_ratio)",
        ),
        _encoder(
            "timm",
            "sslcore_vision.encoders.timm_models:timm_encoder",
            "Any timm model as `timm:<model-name>`, features before its classifier (num_features-d); weights from a local file only",
            name_option="model",
        ),
    ]


@hookimpl
def sslcore_register_datasets() -> list[DatasetSpec]:
    return [
        _dataset(
            "fashion-mnist",
            "sslcore_vision.datasets.fashion_mnist:fashion_mnist",
            "Fashion-MNIST: 60k train + 10k test 28x28 grey images, 10 classes (torchvision loader)",
        ),
        _dataset(
            "digits",
            "sslcore_vision.datasets.digits:digits",
            "scikit-learn digits: 1797 8x8 grey images resized to 16x16, 70/30 split, 10 classes",
            needs_root=False,
        ),
        _dataset(
            "sample-photos",
            "sslcore_vision.datasets.sample_photos:sample_photos",
            "colour crops of scikit-learn's two sample photos: 2 x 128 32x32 RGB crops, 75/25 split, 2 classes",
            needs_root=False,
        ),
        _dataset(
            "mnist",
            "sslcore_vision.datasets.mnist:mnist",
            "MNIST: 60k train + 10k test 28x28 grey digits, 10 classes (torchvision loader)",
        ),
        _dataset(
            "cifar10",
            "sslcore_vision.datasets.cifar:cifar10",
            "CIFAR-10: 50k train + 10k test 32x32 colour images, 10 classes (torchvision loader)",
        ),
        _dataset(
            "cifar100",
            "sslcore_vision.datasets.cifar:cifar100",
            "CIFAR-100: 50k train + 10k test 32x32 colour images, 100 classes (torchvision loader)",
        ),
        _dataset(
            "stl10",
            "sslcore_vision.datasets.stl10:stl10",
            "STL-10: 100k unlabelled 96x96 colour images for pretraining, 5k + 8k labelled, 10 classes",
        ),
        _dataset(
            "image-folder",
            "sslcore_vision.datasets.image_folder:image_folder",
            "Any root/<class>/<image> tree (torchvision ImageFolder), decoded once; stratified split",
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
